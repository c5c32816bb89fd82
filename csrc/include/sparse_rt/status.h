// Errors raised by sparse_rt. Every public function reports bad input by throwing one of these
// with a message that names the offending argument, field, node or tensor; the Python bindings
// map InvalidArgument to ValueError and ModelFormatError to sparse_rt.ModelFormatError.
#pragma once

#include <stdexcept>
#include <string>

namespace sparse_rt {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A caller passed a value that is out of range, of the wrong shape, or inconsistent.
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

// A model file (or an in-memory model description) violates the format specification.
class ModelFormatError : public InvalidArgument {
 public:
  using InvalidArgument::InvalidArgument;
};

}  // namespace sparse_rt
