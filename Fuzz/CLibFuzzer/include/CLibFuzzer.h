#ifndef CLIBFUZZER_H
#define CLIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (compiler-rt, LLVM >= 11), linked in by `-sanitize=fuzzer`. The fuzz targets
/// call it from their own `main` because SwiftPM renames an executable's entry point to
/// `<module>_main` and links `main` to it, so libFuzzer's own `main` is never used. In a plain build
/// (no sanitizer) nothing references it.
int LLVMFuzzerRunDriver(int *argc, char ***argv,
                        int (*callback)(const uint8_t *data, size_t size));

#endif
