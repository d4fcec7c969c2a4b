# bench_jose: libjwt is the same-run baseline for HS256 verification.
pkg_check_modules(LIBJWT REQUIRED IMPORTED_TARGET libjwt)
target_link_libraries(${name} PRIVATE PkgConfig::LIBJWT)
