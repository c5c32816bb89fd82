# Installed CMake package: find_package(sparse_rt) -> target sparse_rt::sparse_rt.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS sparse_rt EXPORT sparse_rtTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY "${PROJECT_SOURCE_DIR}/csrc/include/sparse_rt" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/sparse_rt)
install(EXPORT sparse_rtTargets NAMESPACE sparse_rt:: DESTINATION ${_cmake_dir})
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/sparse_rtConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/sparse_rtConfig.cmake" INSTALL_DESTINATION ${_cmake_dir})
write_basic_package_version_file("${PROJECT_BINARY_DIR}/sparse_rtConfigVersion.cmake"
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/sparse_rtConfig.cmake" "${PROJECT_BINARY_DIR}/sparse_rtConfigVersion.cmake"
  DESTINATION ${_cmake_dir})
