# install.cmake - `make install`: shared + static library, headers, pkg-config file, CMake package,
# the manual pages jwtsession(1) and jwtsessiond(8), the license.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS jwtsession jwtsession_static EXPORT jwtsessionTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/jwtsession DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# The .pc file finds its prefix from its own place, so `cmake --install --prefix DIR` works too.
file(RELATIVE_PATH JWTS_PC_TO_PREFIX /root/${CMAKE_INSTALL_LIBDIR}/pkgconfig /root)
configure_file(${PROJECT_SOURCE_DIR}/cmake/jwtsession.pc.in ${PROJECT_BINARY_DIR}/jwtsession.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/jwtsession.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

install(EXPORT jwtsessionTargets NAMESPACE jwtsession::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/jwtsession)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/jwtsessionConfig.cmake.in
        ${PROJECT_BINARY_DIR}/jwtsessionConfig.cmake
        INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/jwtsession)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/jwtsessionConfigVersion.cmake
        COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/jwtsessionConfig.cmake ${PROJECT_BINARY_DIR}/jwtsessionConfigVersion.cmake
        ${PROJECT_SOURCE_DIR}/cmake/jwtsessionDeps.cmake DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/jwtsession)

install(FILES man/jwtsession.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES man/jwtsessiond.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR})
