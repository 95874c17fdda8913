# cmake -DIN=FILE -DOUT=FILE.c -DNAME=symbol -P EmbedFile.cmake
# Writes FILE's bytes as `const unsigned char NAME[]` and `NAME_len` into a
# C file, so that the program carries data/refusal_model.bin and works from
# any directory. A missing FILE gives an empty array (the loader then says
# the built-in model is missing).
if(EXISTS "${IN}")
    file(READ "${IN}" hex HEX)
else()
    set(hex "")
endif()
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "((0x..,){32})" "\\1\n" body "${body}")
file(WRITE "${OUT}.tmp"
    "/* Generated from ${IN} by cmake/EmbedFile.cmake; do not edit. */\n"
    "#include <stddef.h>\n"
    "extern const unsigned char ${NAME}[];\n"
    "extern const size_t ${NAME}_len;\n"
    "const unsigned char ${NAME}[] = {\n${body}0};\n"
    "const size_t ${NAME}_len = ${len};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
