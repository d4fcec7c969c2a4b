# bench_events runs the jwtsessiond built here for its webhook figures.
if(TARGET jwtsessiond)
  target_compile_definitions(bench_events PRIVATE JWTSD_BIN="$<TARGET_FILE:jwtsessiond>")
  add_dependencies(bench_events jwtsessiond)
endif()
