# Man pages and bash completions, generated at build time from each program's option definitions
# (common/command_line.h: --print-man, --print-bash-completion), so they cannot drift from the
# code. Written to build/cli_docs/man/ and build/cli_docs/completions/ by the target cli_docs.
include(GNUInstallDirs)
set(TTLOGIN_CLI_DOCS_DIR ${PROJECT_BINARY_DIR}/cli_docs)
set(_cli_docs_outputs)

# ttlogin_cli_docs(TARGET SECTION [INSTALL]): the man page TARGET.SECTION and the completion of
# TARGET; INSTALL adds them to `cmake --install` for programs that are installed.
macro(ttlogin_cli_docs target section)
  set(_man ${TTLOGIN_CLI_DOCS_DIR}/man/${target}.${section})
  set(_completion ${TTLOGIN_CLI_DOCS_DIR}/completions/${target})
  add_custom_command(
    OUTPUT ${_man} ${_completion}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${TTLOGIN_CLI_DOCS_DIR}/man
                             ${TTLOGIN_CLI_DOCS_DIR}/completions
    COMMAND ${CMAKE_COMMAND} -DPROGRAM=$<TARGET_FILE:${target}> -DOPTION=--print-man
                             -DOUT=${_man} -P ${PROJECT_SOURCE_DIR}/cmake/run_to_file.cmake
    COMMAND ${CMAKE_COMMAND} -DPROGRAM=$<TARGET_FILE:${target}> -DOPTION=--print-bash-completion
                             -DOUT=${_completion} -P ${PROJECT_SOURCE_DIR}/cmake/run_to_file.cmake
    DEPENDS ${target} ${PROJECT_SOURCE_DIR}/cmake/run_to_file.cmake
    COMMENT "Generating the man page and bash completion of ${target}"
    VERBATIM)
  list(APPEND _cli_docs_outputs ${_man} ${_completion})
  if("${ARGN}" STREQUAL "INSTALL")
    install(FILES ${_man} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
    install(FILES ${_completion} DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
  endif()
endmacro()

ttlogin_cli_docs(login_server 8 INSTALL)
ttlogin_cli_docs(pdu_dump 1 INSTALL)
ttlogin_cli_docs(load_replay 1 INSTALL)
# The benchmark's load generator is not installed; its page is built for the benchmark's readers,
# and not in a build that makes only what ships (the package's).
if(TTLOGIN_BUILD_TESTS OR TTLOGIN_BUILD_BENCH)
  ttlogin_cli_docs(loadgen 1)
endif()
add_custom_target(cli_docs ALL DEPENDS ${_cli_docs_outputs})
