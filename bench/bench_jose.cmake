# bench_jose: libjwt is the same-run baseline for HS256 verification.
pkg_check_modules(LIBJWT REQUIRED IMPORTED_TARGET libjwt)
target_link_libraries(${name} PRIVATE PkgConfig::LIBJWT)
# EdDSA's same-run baseline is libsodium's own verify (already a private dependency of the library).
