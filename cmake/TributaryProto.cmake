# trib_protobuf_generate(<out_var> PROTO_DIR <dir> OUT_DIR <dir> PROTOS <rel>... [GRPC <rel>...] [LABEL <text>])
#
# One protoc rule per .proto: PROTOS are paths relative to PROTO_DIR (the import root),
# generated C++ lands at OUT_DIR/<rel dir>/<stem>.pb.{cc,h}; the ones also listed in GRPC
# get the gRPC service classes (<stem>.grpc.pb.{cc,h}) too. <out_var> receives the .cc files
# to compile. LABEL prefixes the build log line (to tell two generations of one file apart).
function(trib_protobuf_generate out_var)
  cmake_parse_arguments(ARG "" "PROTO_DIR;OUT_DIR;LABEL" "PROTOS;GRPC" ${ARGN})
  if(NOT ARG_PROTO_DIR OR NOT ARG_OUT_DIR OR NOT ARG_PROTOS)
    message(FATAL_ERROR "trib_protobuf_generate: PROTO_DIR, OUT_DIR and PROTOS are required")
  endif()
  set(sources)
  foreach(rel ${ARG_PROTOS})
    get_filename_component(sub ${rel} DIRECTORY)
    get_filename_component(stem ${rel} NAME_WE)
    set(gen_dir ${ARG_OUT_DIR})
    if(sub)
      set(gen_dir ${ARG_OUT_DIR}/${sub})
    endif()
    file(MAKE_DIRECTORY ${gen_dir})
    set(proto ${ARG_PROTO_DIR}/${rel})
    set(outs ${gen_dir}/${stem}.pb.cc ${gen_dir}/${stem}.pb.h)
    set(args --cpp_out=${ARG_OUT_DIR})
    set(deps ${proto} protobuf::protoc)
    list(APPEND sources ${gen_dir}/${stem}.pb.cc)
    if(rel IN_LIST ARG_GRPC)
      list(APPEND outs ${gen_dir}/${stem}.grpc.pb.cc ${gen_dir}/${stem}.grpc.pb.h)
      list(APPEND args --grpc_out=${ARG_OUT_DIR} --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>)
      list(APPEND deps gRPC::grpc_cpp_plugin)
      list(APPEND sources ${gen_dir}/${stem}.grpc.pb.cc)
    endif()
    add_custom_command(
      OUTPUT ${outs}
      COMMAND protobuf::protoc ${args} -I ${ARG_PROTO_DIR} ${proto}
      DEPENDS ${deps}
      COMMENT "protoc ${ARG_LABEL}${rel}")
  endforeach()
  set(${out_var} ${sources} PARENT_SCOPE)
endfunction()
