# The core library. Kernels are compiled once per ISA into OBJECT libraries, each with its own
# flags; everything else is built for baseline x86-64. A kernel family adds files named
# kernels/<family>/{reference,pack,avx2,avx512}.cc and is picked up here.
set(_csrc "${PROJECT_SOURCE_DIR}/csrc")

file(GLOB_RECURSE _kernels_all CONFIGURE_DEPENDS "${_csrc}/kernels/*.cc")
set(_kernels_scalar ${_kernels_all})
list(FILTER _kernels_scalar EXCLUDE REGEX "/(avx2|avx512)[^/]*\\.cc$")
set(_kernels_avx2 ${_kernels_all})
list(FILTER _kernels_avx2 INCLUDE REGEX "/avx2[^/]*\\.cc$")
set(_kernels_avx512 ${_kernels_all})
list(FILTER _kernels_avx512 INCLUDE REGEX "/avx512[^/]*\\.cc$")

file(GLOB_RECURSE _core_sources CONFIGURE_DEPENDS
  "${_csrc}/base/*.cc" "${_csrc}/formats/*.cc" "${_csrc}/dispatch/*.cc" "${_csrc}/ops/*.cc"
  "${_csrc}/graph/*.cc" "${_csrc}/io/*.cc" "${_csrc}/api/*.cc")

set(SPARSE_RT_ISA_FLAGS_avx2 -mavx2 -mfma -mf16c)
set(SPARSE_RT_ISA_FLAGS_avx512 -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c)

function(sparse_rt_kernel_objects name)
  add_library(${name} OBJECT ${ARGN})
  target_include_directories(${name} PRIVATE "${_csrc}" "${_csrc}/include")
endfunction()

sparse_rt_kernel_objects(sparse_rt_kernels_scalar ${_kernels_scalar})
set(_isa_objects $<TARGET_OBJECTS:sparse_rt_kernels_scalar>)
set(SPARSE_RT_ISA_DEFINES "")
foreach(isa avx2 avx512)
  if(_kernels_${isa})
    sparse_rt_kernel_objects(sparse_rt_kernels_${isa} ${_kernels_${isa}})
    target_compile_options(sparse_rt_kernels_${isa} PRIVATE ${SPARSE_RT_ISA_FLAGS_${isa}})
    list(APPEND _isa_objects $<TARGET_OBJECTS:sparse_rt_kernels_${isa}>)
    string(TOUPPER ${isa} _ISA)
    list(APPEND SPARSE_RT_ISA_DEFINES SPARSE_RT_BUILT_${_ISA}=1)
  endif()
endforeach()

add_library(sparse_rt ${_core_sources} ${_isa_objects})
add_library(sparse_rt::sparse_rt ALIAS sparse_rt)
target_include_directories(sparse_rt
  PUBLIC  $<BUILD_INTERFACE:${_csrc}/include> $<INSTALL_INTERFACE:include>
  PRIVATE "${_csrc}")
target_compile_definitions(sparse_rt PRIVATE ${SPARSE_RT_ISA_DEFINES} ${SPARSE_RT_BLAS_DEFINE}
  SPARSE_RT_VERSION="${PROJECT_VERSION}")
target_link_libraries(sparse_rt PUBLIC OpenMP::OpenMP_CXX
  PRIVATE OpenBLAS::OpenBLAS $<BUILD_INTERFACE:nlohmann_json::nlohmann_json>)
target_compile_options(sparse_rt PRIVATE -Wall -Wextra)
set_target_properties(sparse_rt PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR})
if(SPARSE_RT_BLAS_LIBDIR)
  set_target_properties(sparse_rt PROPERTIES BUILD_RPATH "${SPARSE_RT_BLAS_LIBDIR}")
endif()
if(dnnl_FOUND)
  target_link_libraries(sparse_rt PRIVATE DNNL::dnnl)
  target_compile_definitions(sparse_rt PRIVATE SPARSE_RT_HAVE_ONEDNN=1)
  set_property(TARGET sparse_rt APPEND PROPERTY BUILD_RPATH "${SPARSE_RT_ONEDNN_LIBDIR}")
endif()
