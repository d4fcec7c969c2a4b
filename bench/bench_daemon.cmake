# bench_daemon runs the jwtsessiond built here (and wrk + nginx from the system).
if(TARGET jwtsessiond)
  target_compile_definitions(bench_daemon PRIVATE JWTSD_BIN="$<TARGET_FILE:jwtsessiond>")
  add_dependencies(bench_daemon jwtsessiond)
endif()
