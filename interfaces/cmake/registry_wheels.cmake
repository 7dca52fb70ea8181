# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
# Included by scripts/install_ros.sh into every interface package it builds against the
# registry's ROS 2 wheels (CMAKE_PROJECT_INCLUDE), so those packages build unmodified, and by
# interfaces/tcvads_msgs itself, so that `colcon build` builds it in that .venv too.
#
# The wheels come without the setup.bash that sets AMENT_PREFIX_PATH on a ROS install, and rosidl
# finds its type supports in the ament index there: where the index of this interpreter's
# environment (the .venv) is not on it, add it. A ROS install's Python has no index of its own,
# and this then changes nothing.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
execute_process(COMMAND "${Python3_EXECUTABLE}" -c "import sys; print(sys.prefix)"
                OUTPUT_VARIABLE _tcvads_prefix OUTPUT_STRIP_TRAILING_WHITESPACE)
if(EXISTS "${_tcvads_prefix}/share/ament_index/resource_index/rosidl_typesupport_c"
   AND NOT "$ENV{AMENT_PREFIX_PATH}" MATCHES "(^|:)${_tcvads_prefix}(:|$)")
  if("$ENV{AMENT_PREFIX_PATH}" STREQUAL "")
    set(ENV{AMENT_PREFIX_PATH} "${_tcvads_prefix}")
  else()
    set(ENV{AMENT_PREFIX_PATH} "$ENV{AMENT_PREFIX_PATH}:${_tcvads_prefix}")
  endif()
endif()
#
# The registry's prebuilt interface wheels export the include folders of the machine that built
# them (its Python headers and NumPy). CMake refuses imported targets that name folders missing
# here, so, once the package's CMakeLists.txt has found all its dependencies (a deferred call at
# the end of the top directory), replace those folders with this interpreter's Python and NumPy
# include folders. A ROS install from its own packages exports existing folders, and this then
# changes nothing.
function(_tcvads_fix_wheel_include_dirs)
  find_package(Python3 REQUIRED COMPONENTS Interpreter Development NumPy)
  get_property(_imported DIRECTORY "${CMAKE_SOURCE_DIR}" PROPERTY IMPORTED_TARGETS)
  foreach(_target IN LISTS _imported)
    get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs)
      continue()
    endif()
    set(_kept "")
    set(_replaced FALSE)
    foreach(_dir IN LISTS _dirs)
      if(EXISTS "${_dir}" OR _dir MATCHES "^\\$<")
        list(APPEND _kept "${_dir}")
      else()
        set(_replaced TRUE)
      endif()
    endforeach()
    if(_replaced)
      list(APPEND _kept ${Python3_INCLUDE_DIRS} ${Python3_NumPy_INCLUDE_DIRS})
      list(REMOVE_DUPLICATES _kept)
      set_target_properties(${_target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_kept}")
    endif()
  endforeach()
endfunction()

cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _tcvads_fix_wheel_include_dirs)
