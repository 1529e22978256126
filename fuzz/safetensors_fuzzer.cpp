// libFuzzer target for the safetensors parser: any bytes as a whole file.
// A file must either parse (then every tensor converts or is refused with
// wtconv::Error) or be refused with wtconv::Error: anything else (a crash, a
// sanitizer report, another exception) is a finding. tools/sanitize.sh runs
// it for a bounded time, seeded with tests/golden_safetensors/.
#include "safetensors.h"  // runtime/

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    using namespace wtconv::detail;
    try {
        const SafetensorsIndex index = parse_file_image(data, size, "fuzz");
        for (const TensorEntry &e : index.tensors) {
            try {
                const std::vector<float> values = to_float32(e, data + index.data_offset + e.begin, "fuzz");
                if (values.size() != (e.end - e.begin) / e.dtype_size) __builtin_trap();  // one value per element
            } catch (const wtconv::Error &) {
            }
        }
    } catch (const wtconv::Error &) {
    }
    return 0;
}
