# tributary_add_module(<name> SOURCES ... [LIBS ...])
# Builds a loadable module <name>.so into build/plugins/ with hidden visibility, linked
# against the SDK headers only (plus the given libraries). One line per module folder.
# RUNPATH: build/plugins/../lib in the build tree; installed, helper libraries sit in the
# folder above the plugins dir (/usr/lib/tributary beside /usr/lib/tributary/plugins).
function(tributary_add_module name)
  cmake_parse_arguments(M "" "" "SOURCES;LIBS" ${ARGN})
  add_library(${name} MODULE ${M_SOURCES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    OUTPUT_NAME ${name}
    LIBRARY_OUTPUT_DIRECTORY ${TRIB_PLUGIN_OUTPUT_DIR}
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    BUILD_RPATH "$ORIGIN/../lib"
    INSTALL_RPATH "$ORIGIN/..")
  target_link_libraries(${name} PRIVATE tributary_sdk ${M_LIBS})
endfunction()

# tributary_embed_text(<target> <file> <identifier>)
# Makes the text of <file> available to <target> as
#   #include "<identifier>.inc"   ->   static const char <identifier>[] = "...";
# Used to compile each module's <name>.conf.sample into its descriptor.
function(tributary_embed_text target file identifier)
  get_filename_component(abs ${file} ABSOLUTE)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${abs})
  file(READ ${abs} content)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/embed/${identifier}.inc)
  file(WRITE ${out}.tmp "static const char ${identifier}[] = R\"TRIBRAW(${content})TRIBRAW\";\n")
  file(COPY_FILE ${out}.tmp ${out} ONLY_IF_DIFFERENT)
  target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_BINARY_DIR}/embed)
endfunction()
