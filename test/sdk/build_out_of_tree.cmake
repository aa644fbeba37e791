# CTest fixture setup (cmake -P): installs the SDK from the current build tree into a
# fresh prefix, then configures and builds, each as its own out-of-tree project against
# that prefix only, sdk/examples/example_input, sdk/examples/example_sink and
# test/sdk/abi_modules, with the build tree's compilers and Ninja. The resulting .so files
# are collected in ${WORK_DIR}/plugins.
#
# Required -D variables: BUILD_DIR SOURCE_DIR WORK_DIR GENERATOR MAKE_PROGRAM C_COMPILER
#                        CXX_COMPILER BUILD_TYPE
foreach(var BUILD_DIR SOURCE_DIR WORK_DIR GENERATOR MAKE_PROGRAM C_COMPILER CXX_COMPILER BUILD_TYPE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "build_out_of_tree.cmake: -D${var}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/plugins)
set(prefix ${WORK_DIR}/sdk-prefix)

function(run_step what)
  execute_process(COMMAND ${ARGN}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "${what}: ok")
endfunction()

run_step("install the SDK into ${prefix}"
  ${CMAKE_COMMAND} --install ${BUILD_DIR} --component sdk --prefix ${prefix})

foreach(f include/tributary/plugin.h include/tributary/plugin.hpp include/tributary/config_map.hpp
          include/tributary/testing/fake_host.hpp
          lib/cmake/Tributary/TributaryConfig.cmake lib/cmake/Tributary/TributaryConfigVersion.cmake
          lib/cmake/Tributary/TributaryModule.cmake lib/cmake/Tributary/TributaryTargets.cmake)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "SDK install is missing ${f}")
  endif()
endforeach()

# name | source dir | modules it builds (comma-separated)
set(projects
  "example_input|${SOURCE_DIR}/sdk/examples/example_input|example_input"
  "example_sink|${SOURCE_DIR}/sdk/examples/example_sink|example_sink"
  "abi_modules|${SOURCE_DIR}/test/sdk/abi_modules|abi_old_minor,abi_wrong_major")
foreach(entry IN LISTS projects)
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 name)
  list(GET parts 1 src)
  list(GET parts 2 modules)
  string(REPLACE "," ";" modules "${modules}")
  set(bin ${WORK_DIR}/build-${name})
  # Only the install prefix is on the search path: the project cannot see the source tree.
  run_step("configure ${name}"
    ${CMAKE_COMMAND} -S ${src} -B ${bin} -G ${GENERATOR}
      -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}
      -DCMAKE_C_COMPILER=${C_COMPILER} -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
      -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
      -DCMAKE_PREFIX_PATH=${prefix}
      -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
  run_step("build ${name}" ${CMAKE_COMMAND} --build ${bin} -j 2)
  foreach(m IN LISTS modules)
    if(NOT EXISTS ${bin}/plugins/${m}.so)
      message(FATAL_ERROR "${name}: ${bin}/plugins/${m}.so was not built")
    endif()
    file(COPY ${bin}/plugins/${m}.so DESTINATION ${WORK_DIR}/plugins)
  endforeach()
endforeach()
message(STATUS "out-of-tree modules in ${WORK_DIR}/plugins")
