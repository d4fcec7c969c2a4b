# bench_nginx_auth runs the jwtsessiond built here behind nginx with deploy/nginx/jwtsession.conf
# (wrk, nginx and ss from the system).
target_compile_definitions(bench_nginx_auth PRIVATE JWTS_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
if(TARGET jwtsessiond)
  target_compile_definitions(bench_nginx_auth PRIVATE JWTSD_BIN="$<TARGET_FILE:jwtsessiond>")
  add_dependencies(bench_nginx_auth jwtsessiond)
endif()
