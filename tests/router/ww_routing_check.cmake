# The six-type, 90-agent centre keeps what docs/routing-quality.md says of it, on the same days
# (common random numbers) for every centre of ww_dedicated.toml's comparison (its 40 days, as the
# document quotes them):
#   the dedicated and all-skilled delay probabilities within their intervals of Erlang C's exact
#     M/M/15 and M/M/90 values;
#   two skills per agent: every pair of types (ww_pairs.toml) waits less than the ring
#     (ww_chained.toml), and least-needed routing of the pairs (ww_pairs_least_needed.toml) less
#     again (each paired difference from the dedicated centre, intervals apart).
#
# cmake -DSIM=acd-sim -DEXAMPLES=router/sim/examples -P ww_routing_check.cmake

execute_process(COMMAND "${SIM}" --config ${EXAMPLES}/ww_dedicated.toml --compare --json
                RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "acd-sim exit status ${status}: ${err}")
endif()

# Centres in the file's order: 0 dedicated, 1 all-skills, 2 chained, 3 pairs, 4 pairs-least-needed.
function(figure centre name mean ci)
  string(JSON n ERROR_VARIABLE bad0 GET "${out}" centres ${centre} name)
  string(JSON m ERROR_VARIABLE bad GET "${out}" centres ${centre} total ${name} mean)
  string(JSON c ERROR_VARIABLE bad2 GET "${out}" centres ${centre} total ${name} ci95)
  if(bad0 OR bad OR bad2)
    message(FATAL_ERROR "no centres ${centre} total ${name} in the output: ${bad0}${bad}${bad2}")
  endif()
  message(STATUS "${n} ${name}: ${m} ± ${c}")
  set(${mean} ${m} PARENT_SCOPE)
  set(${ci} ${c} PARENT_SCOPE)
endfunction()

# Fails with `message` unless the awk condition `condition` holds (awk compares the numbers).
function(expect condition message)
  execute_process(COMMAND awk "BEGIN { exit !(${condition}) }" RESULT_VARIABLE off)
  if(NOT off EQUAL 0)
    message(FATAL_ERROR "${message}")
  endif()
endfunction()

function(expect_within centre exact)
  figure(${centre} p_wait m c)
  expect("${m} - ${exact} <= ${c} && ${exact} - ${m} <= ${c}"
         "centre ${centre}: P(wait) ${m} ± ${c}, exact ${exact} outside")
endfunction()

# Centre a's paired difference from the dedicated centre lies wholly below centre b's.
function(expect_below a b)
  figure(${a} p_wait_vs_first ma ca)
  figure(${b} p_wait_vs_first mb cb)
  expect("${ma} + ${ca} < ${mb} - ${cb}" "centre ${a} (${ma} ± ${ca}) not below centre ${b} (${mb} ± ${cb})")
endfunction()

expect_within(0 0.6026)  # M/M/15 at 13.5 erlangs
expect_within(1 0.2385)  # M/M/90 at 81 erlangs
expect_below(3 2)
expect_below(4 3)
