# The package as its users meet it. Installs the package into a scratch
# prefix and checks what is there (pkg-config files, LICENSE, the programs and
# their --version); builds a program with pkg-config's flags; configures,
# builds and runs a consumer project that uses find_package(r2plus1d CONFIG)
# (with r2plus1d::video where FFmpeg is found, WITH_VIDEO); and builds a parent
# project that adds r2plus1d's sources with add_subdirectory (and again with
# FetchContent), whose own install must hold none of r2plus1d's files
# (R2PLUS1D_INSTALL defaults to OFF below the top level).
file(REMOVE_RECURSE ${WORK_DIR})
function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "step failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(step_out "${out}" PARENT_SCOPE)
endfunction()
function(expect what cond_text)
  if(NOT ${ARGN})
    message(FATAL_ERROR "${what}: ${cond_text}")
  endif()
endfunction()
set(prefix ${WORK_DIR}/prefix)
step(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

# --- installed files
foreach(f share/doc/r2plus1d/LICENSE share/pkgconfig/r2plus1d.pc include/r2plus1d/version.hpp
          share/cmake/r2plus1d/r2plus1dConfig.cmake bin/r2plus1d-convert)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
step(${PYTHON} ${prefix}/bin/r2plus1d-convert --version)
string(STRIP "${step_out}" v)
expect("r2plus1d-convert --version" "'${v}', expected 'r2plus1d-convert ${VERSION}'" v STREQUAL "r2plus1d-convert ${VERSION}")
step(${CMAKE_COMMAND} -E env test -x ${prefix}/bin/r2plus1d-convert)
if(EXISTS ${prefix}/bin/r2plus1d-extract)
  step(${prefix}/bin/r2plus1d-extract --version)
  string(STRIP "${step_out}" v)
  expect("r2plus1d-extract --version" "'${v}', expected 'r2plus1d-extract ${VERSION}'" v STREQUAL "r2plus1d-extract ${VERSION}")
endif()

# --- pkg-config: the version, the flags, and a program built with them
set(ENV{PKG_CONFIG_PATH} ${prefix}/share/pkgconfig)
step(${PKG_CONFIG} --modversion r2plus1d)
string(STRIP "${step_out}" v)
expect("pkg-config --modversion r2plus1d" "'${v}', expected '${VERSION}'" v STREQUAL "${VERSION}")
step(${PKG_CONFIG} --cflags --libs r2plus1d)
string(STRIP "${step_out}" pc_flags)
file(REAL_PATH ${prefix}/include want_include)
set(pc_include "")
if(pc_flags MATCHES "^-I([^ ]+)")
  file(REAL_PATH ${CMAKE_MATCH_1} pc_include)
endif()
expect("pkg-config --cflags r2plus1d" "'${pc_flags}' does not start with -I${want_include}"
       pc_include STREQUAL want_include)
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
step(${CXX} -std=c++17 -DEXPECTED_VERSION="${VERSION}" ${SOURCE_DIR}/tests/package/pkgconfig_main.cpp
     -o ${WORK_DIR}/pkgconfig_main ${pc_flags})
step(${WORK_DIR}/pkgconfig_main)
if(WITH_VIDEO)
  step(${PKG_CONFIG} --libs r2plus1d-video)
  expect("pkg-config --libs r2plus1d-video" "'${step_out}' lacks FFmpeg's libraries" step_out MATCHES "-lavformat")
endif()

# --- find_package(r2plus1d CONFIG) [COMPONENTS video]
step(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/build -DCMAKE_PREFIX_PATH=${prefix}
     -DCMAKE_BUILD_TYPE=Release -DCONSUMER_VIDEO=${WITH_VIDEO})
step(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
step(${WORK_DIR}/build/consumer)
if(WITH_VIDEO)
  step(${WORK_DIR}/build/video_consumer)
endif()

# --- add_subdirectory, then FetchContent, in a parent project: its install holds its own program only
foreach(how add_subdirectory FetchContent)
  set(pb ${WORK_DIR}/parent-${how})
  set(fetch OFF)
  if(how STREQUAL "FetchContent")
    set(fetch ON)
  endif()
  step(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package/parent -B ${pb}/build
       -DR2PLUS1D_SOURCE_DIR=${SOURCE_DIR} -DPARENT_FETCHCONTENT=${fetch} -DCMAKE_BUILD_TYPE=Release)
  step(${CMAKE_COMMAND} --build ${pb}/build)
  step(${pb}/build/parent)
  if(WITH_VIDEO)
    step(${pb}/build/parent_video)
  endif()
  step(${CMAKE_COMMAND} --install ${pb}/build --prefix ${pb}/prefix)
  file(GLOB_RECURSE installed RELATIVE ${pb}/prefix ${pb}/prefix/*)
  expect("a parent project's install (${how})" "holds '${installed}', expected bin/parent only"
         installed STREQUAL "bin/parent")
endforeach()
message(STATUS "package installed, found by pkg-config and find_package, added by add_subdirectory and FetchContent: all as expected")
