# Regenerates a committed trace and requires it to be identical: the generators are deterministic,
# and the files under test/data/ are what they claim to be.
execute_process(COMMAND ${TOOL} --generate ${KIND} --seed ${SEED} --events ${EVENTS} -o ${OUT}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "load_replay --generate ${KIND} failed: ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT} ${EXPECTED} RESULT_VARIABLE diff)
if(NOT diff EQUAL 0)
  message(FATAL_ERROR "${EXPECTED} differs from what the generator writes now (${OUT}); "
                      "regenerate it or find the nondeterminism")
endif()
message(STATUS "${EXPECTED}: regenerated identically")
