# bench_daemon runs the jwtsessiond built here (and wrk + nginx from the system).
if(TARGET jwtsessiond)
  target_compile_definitions(bench_daemon PRIVATE JWTSD_BIN="$<TARGET_FILE:jwtsessiond>")
  add_dependencies(bench_daemon jwtsessiond)
endif()
# ... and mhd_floor, the least a libmicrohttpd server does per request, with jwtsessiond's flags.
pkg_check_modules(MHD_FLOOR REQUIRED IMPORTED_TARGET libmicrohttpd)
add_executable(mhd_floor ${CMAKE_CURRENT_SOURCE_DIR}/mhd_floor.c)
target_link_libraries(mhd_floor PRIVATE PkgConfig::MHD_FLOOR)
target_compile_definitions(bench_daemon PRIVATE MHD_FLOOR_BIN="$<TARGET_FILE:mhd_floor>")
add_dependencies(bench_daemon mhd_floor)
