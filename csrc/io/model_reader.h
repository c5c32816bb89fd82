// The C++ reader of sparse_rt model files (.sprt, docs/format.md). It checks every rule of
// §2-§6 in the order of §6 before anything in the file is used, and never allocates or reads
// from a size or offset it has not checked against the file size. Violations throw
// ModelFormatError with the same kind of message as the Python reader (`tensor 'x': ...`,
// `node 'conv1' (conv2d): ...`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "graph/ir.h"

namespace sparse_rt::io {

constexpr int kFormatVersion = 1;

// Memory-maps `path` (read-only) and validates it. Messages are prefixed with the path.
// Throws ModelFormatError for an invalid file, InvalidArgument if it cannot be opened.
graph::Graph read_model(const std::string& path);

// Validates a whole file held in memory. `keep_alive` owns `data` (it is stored in the Graph,
// whose array pointers point into `data`).
graph::Graph parse_model(const uint8_t* data, size_t size, std::shared_ptr<const void> keep_alive);

}  // namespace sparse_rt::io
