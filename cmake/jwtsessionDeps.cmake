# jwtsessionDeps.cmake - the libraries libjwtsession links, as imported targets under names of its
# own (PkgConfig::jwtsession_dep_<name>). Used by the build and by the installed package
# (jwtsessionConfig.cmake): inside a function, and with prefixed pkg-config results, so a caller's
# variables (OPENSSL_LIBRARIES, CURL_LIBRARIES, ...) are never set or replaced.
#
# jwtsession_find_deps(REQUIRED|OPTIONAL): OPTIONAL (the installed package) lets a program that
# links only the shared library build without the dependencies' development files: a dependency
# whose .pc file is missing becomes a plain -l<name> link, needed only by the static library.
function(jwtsession_find_deps mode)
  find_package(PkgConfig QUIET)
  # name|pkg-config modules|plain libraries when the .pc file is missing
  set(deps "openssl|libssl>=3.0 libcrypto>=3.0|ssl crypto" "jansson|jansson|jansson" "hiredis|hiredis|hiredis"
           "curl|libcurl|curl" "sodium|libsodium>=1.0.16|sodium" "lmdb|lmdb|lmdb")
  foreach(dep IN LISTS deps)
    string(REPLACE "|" ";" parts "${dep}")
    list(GET parts 0 name)
    list(GET parts 1 modules)
    list(GET parts 2 libs)
    separate_arguments(modules)
    separate_arguments(libs)
    set(target PkgConfig::jwtsession_dep_${name})
    if(TARGET ${target})
      continue()
    endif()
    if(PKG_CONFIG_FOUND)
      if(mode STREQUAL "REQUIRED")
        pkg_check_modules(jwtsession_dep_${name} REQUIRED QUIET IMPORTED_TARGET GLOBAL ${modules})
      else()
        pkg_check_modules(jwtsession_dep_${name} QUIET IMPORTED_TARGET GLOBAL ${modules})
      endif()
    endif()
    if(NOT TARGET ${target})
      add_library(${target} INTERFACE IMPORTED GLOBAL)
      set_target_properties(${target} PROPERTIES INTERFACE_LINK_LIBRARIES "${libs}")
    endif()
  endforeach()
endfunction()
