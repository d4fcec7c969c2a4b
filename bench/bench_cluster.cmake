# bench_cluster starts its cluster nodes with the tests' redis_server helpers.
target_sources(bench_cluster PRIVATE ${PROJECT_SOURCE_DIR}/tests/integration/redis_server.c)
target_include_directories(bench_cluster PRIVATE ${PROJECT_SOURCE_DIR}/tests/integration)
