# One OBJECT library per layer of src/ (docs/ARCHITECTURE.md), linked only
# along the allowed edges:
#
#   trib_layer(NAME DEPS lower layers... LIBS external libraries...)
#
# creates trib_<NAME> from src/<NAME>/*.c.  A layer sees its own internal
# headers and those of the layers it depends on, and nothing else: its include
# directory is build/layers/<NAME>/, which holds one link, <NAME> ->
# src/<NAME>, so "#include "data/internal.h"" resolves only in data and in the
# layers that list data among their DEPS.  An upward include therefore fails
# to compile.  Every layer sees the public headers (include/tributary/).
#
# Objects are compiled with hidden visibility: only the functions marked
# TRIB_API in include/tributary/ leave the shared libraries.
function(trib_layer name)
  cmake_parse_arguments(L "" "" "DEPS;LIBS" ${ARGN})
  set(dir ${PROJECT_BINARY_DIR}/layers/${name})
  file(MAKE_DIRECTORY ${dir})
  if(NOT EXISTS ${dir}/${name})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${name} ${dir}/${name} SYMBOLIC)
  endif()
  file(GLOB srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*.c)
  add_library(trib_${name} OBJECT ${srcs})
  target_include_directories(trib_${name}
    PUBLIC ${dir} ${PROJECT_SOURCE_DIR}/include ${PROJECT_BINARY_DIR}/include)
  set(deps)
  foreach(d ${L_DEPS})
    list(APPEND deps trib_${d})
  endforeach()
  target_link_libraries(trib_${name} PUBLIC ${deps} ${L_LIBS})
  set_target_properties(trib_${name} PROPERTIES C_VISIBILITY_PRESET hidden)
  set(TRIB_LAYER_DEPS_${name} ${L_DEPS} PARENT_SCOPE)
endfunction()

# trib_layer_objects(OUT layer...): the object files of the given layers, for
# building a library from them.
function(trib_layer_objects out)
  set(objs)
  foreach(l ${ARGN})
    list(APPEND objs $<TARGET_OBJECTS:trib_${l}>)
  endforeach()
  set(${out} ${objs} PARENT_SCOPE)
endfunction()
