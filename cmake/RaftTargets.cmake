# Helpers shared by every target of the project.
#
# raft_target_options(<target>) turns on our warning set (as errors: it is our
# code) and, with RAFT_SANITIZE, ASan+UBSan. Third-party headers (CAF, Boost,
# Catch2) are included as SYSTEM headers, so their warnings do not count.

if(RAFT_SANITIZE)
  set(RAFT_SANITIZER_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer
                           -fno-sanitize-recover=all)
  add_compile_options(${RAFT_SANITIZER_FLAGS})
  add_link_options(-fsanitize=address,undefined)
endif()

function(raft_target_options target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
    -Wunused -Woverloaded-virtual -Wimplicit-fallthrough
    -Werror)
  # Not -Wnull-dereference: g++ 12 reports false positives inside libstdc++
  # (std::string, std::istreambuf_iterator) at -O2.
endfunction()
