# Writes what `PROGRAM OPTION` prints to OUT, replacing OUT only when the program succeeded (a
# failed run fails the build instead of leaving a truncated man page behind).
#   cmake -DPROGRAM=... -DOPTION=... -DOUT=... -P run_to_file.cmake
execute_process(COMMAND ${PROGRAM} ${OPTION} OUTPUT_FILE ${OUT}.tmp RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  file(REMOVE ${OUT}.tmp)
  message(FATAL_ERROR "${PROGRAM} ${OPTION} failed: ${_rc}")
endif()
file(RENAME ${OUT}.tmp ${OUT})
