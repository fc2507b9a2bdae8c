# The shipped bank policies keep what docs/routing-quality.md says of them, on the same days
# (common random numbers) as the dedicated split (bank_dedicated.toml, the first centre):
#   bank_expand.toml: overall, cards and loans above the dedicated split (the paired difference's
#     95 % interval above 0);
#   bank_balanced.toml: loans above it, and cards and English no more than 6 points below.
#
# cmake -DSIM=acd-sim -DEXAMPLES=router/sim/examples -P bank_policies_check.cmake

set(ARGS --config ${EXAMPLES}/bank_dedicated.toml --duration 28800 --warmup 1800 --days 20
    --compare --json --variant expand=${EXAMPLES}/bank_expand.toml
    --variant balanced=${EXAMPLES}/bank_balanced.toml)
execute_process(COMMAND "${SIM}" ${ARGS} RESULT_VARIABLE status OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "acd-sim exit status ${status}: ${err}")
endif()

# The paired difference (centre minus dedicated) of a queue's service level, or the total's
# (queue -1): its mean and its 95 % half-width.
function(difference centre queue mean ci)
  if(queue EQUAL -1)
    set(path centres ${centre} total sl_offered_vs_first)
  else()
    set(path centres ${centre} queues ${queue} sl_offered_vs_first)
  endif()
  string(JSON m ERROR_VARIABLE bad GET "${out}" ${path} mean)
  string(JSON c ERROR_VARIABLE bad2 GET "${out}" ${path} ci95)
  if(bad OR bad2)
    message(FATAL_ERROR "no ${path} in the output: ${bad}${bad2}")
  endif()
  set(${mean} ${m} PARENT_SCOPE)
  set(${ci} ${c} PARENT_SCOPE)
endfunction()

# Queues in the file's order: 0 cards, 1 loans, 2 english, 3 chat. Centres: 1 expand, 2 balanced.
function(expect_above centre label queue floor)
  difference(${centre} ${queue} m c)
  # if(... GREATER ...) compares the two as floating-point numbers.
  if(floor STREQUAL "interval")
    # The whole interval above 0: mean - ci > 0, i.e. mean > ci.
    if(NOT m GREATER c)
      message(FATAL_ERROR "${label}: ${m} ± ${c}, not above the dedicated split")
    endif()
  elseif(NOT m GREATER floor)
    message(FATAL_ERROR "${label}: ${m} ± ${c}, not above ${floor}")
  endif()
  message(STATUS "${label}: ${m} ± ${c}")
endfunction()

expect_above(1 "expand, all queues" -1 interval)
expect_above(1 "expand, cards" 0 interval)
expect_above(1 "expand, loans" 1 interval)
expect_above(2 "balanced, loans" 1 interval)
expect_above(2 "balanced, cards" 0 -0.06)
expect_above(2 "balanced, English" 2 -0.06)
