# Shared conventions for sopstream targets: warnings, sanitizers, tests.

# Applies the project's warning set (and -Werror when SOP_WERROR) to one of our own targets.
# Generated code (protobuf/gRPC) is compiled without it.
function(sop_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                         -Wno-sign-conversion -Wnon-virtual-dtor -Wold-style-cast
                         -Wcast-align -Wunused -Woverloaded-virtual -Wnull-dereference
                         -Wimplicit-fallthrough)
  if(SOP_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  # GCC 12 at -O2/-O3 reports -Wrestrict inside libstdc++ for "literal" + std::string (GCC bug
  # 105329, a false positive fixed in GCC 13); it broke the release preset under -Werror.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
endfunction()

if(SOP_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# sop_add_library(NAME <short> [SOURCES ...] [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# Creates sop_<short> with alias sop::<short>, public headers in include/.
function(sop_add_library)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  set(target sop_${ARG_NAME})
  if(ARG_SOURCES)
    add_library(${target} STATIC ${ARG_SOURCES})
    target_include_directories(${target} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
    target_link_libraries(${target} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
    sop_warnings(${target})
  else()
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE ${CMAKE_CURRENT_SOURCE_DIR}/include)
    target_link_libraries(${target} INTERFACE ${ARG_PUBLIC_DEPS})
  endif()
  add_library(sop::${ARG_NAME} ALIAS ${target})
endfunction()

# sop_add_test(NAME <test> SOURCES ... DEPS ... [LABELS unit|kafka|redis|e2e] [TIMEOUT s])
# One GoogleTest executable, its tests discovered into CTest with the given labels.
function(sop_add_test)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_executable(${ARG_NAME} ${ARG_SOURCES})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  sop_warnings(${ARG_NAME})
  include(GoogleTest)
  gtest_discover_tests(${ARG_NAME}
    TEST_PREFIX "${ARG_NAME}."
    TEST_LIST ${ARG_NAME}_TESTS
    PROPERTIES TIMEOUT ${ARG_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
  # PROPERTIES flattens a list, so "LABELS kafka;redis" would keep only the first label. The
  # labels are set by a script CTest includes after the discovered tests (same scope, so the
  # TEST_LIST variable is visible there).
  set(labels_script "${CMAKE_CURRENT_BINARY_DIR}/${ARG_NAME}_labels.cmake")
  file(WRITE "${labels_script}"
    "if(NOT \"\${${ARG_NAME}_TESTS}\" STREQUAL \"\")\n"
    "  set_tests_properties(\${${ARG_NAME}_TESTS} PROPERTIES LABELS \"${ARG_LABELS}\")\n"
    "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${labels_script}")
endfunction()
