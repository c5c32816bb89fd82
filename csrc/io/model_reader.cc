// Mirrors python/sparse_rt/format.py (the reference implementation) rule by rule, in the same
// order, with the same messages where practical. Section numbers refer to docs/format.md.
#include "io/model_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "sparse_rt/status.h"

namespace sparse_rt::io {
namespace {

using json = nlohmann::json;
using graph::Act;
using graph::OpType;

constexpr uint64_t kMaxHeader = 100000000;
constexpr size_t kMaxDepth = 64;
constexpr int64_t kMaxRank = 8;
constexpr int64_t kMaxDim = 2147483647;
constexpr int64_t kAlign = 64;
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();

[[noreturn]] void fail(const std::string& msg) { throw ModelFormatError(msg); }

std::string str(int64_t v) { return std::to_string(v); }

// A short JSON rendering of a value for messages.
std::string repr(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

// Python's type name for a JSON value (the reference reader's messages use them).
const char* py_type(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "NoneType";
    case json::value_t::boolean: return "bool";
    case json::value_t::number_integer: case json::value_t::number_unsigned: return "int";
    case json::value_t::number_float: return "float";
    case json::value_t::string: return "str";
    case json::value_t::array: return "list";
    case json::value_t::object: return "dict";
    default: return "bytes";
  }
}

std::string fmt_list(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + str(v[i]);
  return s + "]";
}

// A value's shape for messages: batch first ("null" when free).
std::string fmt_shape(int64_t batch, const std::vector<int64_t>& dims) {
  std::string s = "[" + (batch ? str(batch) : std::string("null"));
  for (int64_t d : dims) s += ", " + str(d);
  return s + "]";
}

int64_t sat_mul(int64_t a, int64_t b) {  // a, b >= 0; saturates at INT64_MAX
  if (a == 0 || b == 0) return 0;
  if (a > kI64Max / b) return kI64Max;
  return a * b;
}

int64_t floordiv(int64_t a, int64_t b) {  // b > 0
  int64_t q = a / b;
  if ((a % b != 0) && (a < 0)) --q;
  return q;
}

// ---- JSON (§2.1): duplicate keys and depth rejected during the parse -----------------------

struct JsonReject {
  std::string why;
};

json parse_json(const char* begin, const char* end, const std::string& what,
                std::vector<std::string>* top_keys) {
  std::vector<std::unordered_set<std::string>> stack;  // key sets of the open containers
  auto cb = [&](int /*depth*/, json::parse_event_t ev, json& parsed) -> bool {
    switch (ev) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (stack.size() >= kMaxDepth)
          throw JsonReject{"nested deeper than " + std::to_string(kMaxDepth) + " levels"};
        stack.emplace_back();
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!stack.empty()) stack.pop_back();
        break;
      case json::parse_event_t::key: {
        const std::string& k = parsed.get_ref<const std::string&>();
        if (!stack.back().insert(k).second) throw JsonReject{"duplicate key '" + k + "'"};
        if (top_keys && stack.size() == 1) top_keys->push_back(k);
        break;
      }
      case json::parse_event_t::value:
        break;
    }
    return true;
  };
  // nlohmann's lexer takes a NUL byte for the end of input, so `{...}\0<anything>` would
  // parse; a raw NUL is never valid JSON (inside a string it must be escaped).
  if (const void* nul = std::memchr(begin, 0, static_cast<size_t>(end - begin)))
    fail(what + " is not valid JSON: NUL byte at position " +
         std::to_string(static_cast<const char*>(nul) - begin));
  try {
    return json::parse(begin, end, cb, true, false);
  } catch (const JsonReject& e) {
    fail(what + " is not valid JSON: " + e.why);
  } catch (const json::exception& e) {
    fail(what + " is not valid JSON: " + e.what());
  }
}

bool valid_utf8(const uint8_t* s, size_t n, size_t* bad) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else { *bad = i; return false; }
    if (i + len > n) { *bad = i; return false; }
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) { *bad = i; return false; }
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      *bad = i;
      return false;
    }
    i += len;
  }
  return true;
}

// "integer" of §1 within [lo, hi] (hi <= INT64_MAX).
bool get_int(const json& v, int64_t lo, int64_t hi, int64_t* out) {
  if (!v.is_number_integer()) return false;
  int64_t x;
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(kI64Max)) return false;
    x = static_cast<int64_t>(u);
  } else {
    x = v.get<int64_t>();
  }
  if (x < lo || x > hi) return false;
  *out = x;
  return true;
}

// ---- §3 head: format name and version --------------------------------------------------------

void check_head(const json& doc) {
  if (!doc.is_object()) fail(std::string("document: must be a JSON object, got ") + py_type(doc));
  auto f = doc.find("format");
  if (f == doc.end() || !f->is_string() || f->get_ref<const std::string&>() != "sparse_rt")
    fail("document: 'format' must be 'sparse_rt', got " +
         (f == doc.end() ? std::string("None") : repr(*f)) + ": not a sparse_rt model");
  auto v = doc.find("format_version");
  // An integer above UINT64_MAX parses as a float: it is a (far) newer version (spec §6 notes).
  if (v != doc.end() && v->is_number_float()) {
    const double d = v->get<double>();
    if (std::isfinite(d) && d >= 18446744073709551616.0 && d == std::floor(d))
      fail("document: format_version " + v->dump() + " is newer than this reader supports (up to " +
           std::to_string(kFormatVersion) + "); upgrade sparse_rt to read this file");
  }
  if (v == doc.end() || !v->is_number_integer() ||
      (!v->is_number_unsigned() && v->get<int64_t>() < 1))
    fail("document: 'format_version' must be a positive integer, got " +
         (v == doc.end() ? std::string("None") : repr(*v)));
  if (v->is_number_unsigned() && v->get<uint64_t>() == 0)
    fail("document: 'format_version' must be a positive integer, got 0");
  const bool newer = v->is_number_unsigned() ? v->get<uint64_t>() > uint64_t(kFormatVersion)
                                             : v->get<int64_t>() > kFormatVersion;
  if (newer)
    fail("document: format_version " + v->dump() + " is newer than this reader supports (up to " +
         std::to_string(kFormatVersion) + "); upgrade sparse_rt to read this file");
}

// ---- §2.2 tensor table ------------------------------------------------------------------------

enum class DType { kF32, kI32, kU16, kU8 };

struct TensorRec {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  int64_t begin = 0, end = 0;
  size_t order = 0;      // position in the header (file order)
  const uint8_t* ptr = nullptr;
  std::string claimed;   // node using it
  bool is_claimed = false;
};

const char* dtype_code(DType d) {
  switch (d) {
    case DType::kF32: return "F32";
    case DType::kI32: return "I32";
    case DType::kU16: return "U16";
    case DType::kU8: return "U8";
  }
  return "?";
}

int64_t itemsize(DType d) {
  switch (d) {
    case DType::kF32: case DType::kI32: return 4;
    case DType::kU16: return 2;
    case DType::kU8: return 1;
  }
  return 1;
}

const std::unordered_set<std::string>& safetensors_dtypes() {
  static const std::unordered_set<std::string> s = {
      "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "I16",
      "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64", "C64"};
  return s;
}

// Parses one header entry; all sizes checked against the data buffer length B.
TensorRec tensor_entry(const std::string& name, const json& e, int64_t buf_len) {
  const std::string where = "tensor '" + name + "'";
  if (!e.is_object()) fail(where + ": header entry must be an object, got " + repr(e));
  static const char* kKeys[] = {"data_offsets", "dtype", "shape"};
  std::vector<std::string> missing, extra;
  for (const char* k : kKeys)
    if (!e.contains(k)) missing.push_back(k);
  for (auto it = e.begin(); it != e.end(); ++it)
    if (it.key() != "dtype" && it.key() != "shape" && it.key() != "data_offsets")
      extra.push_back(it.key());
  if (!missing.empty() || !extra.empty()) {
    auto lst = [](const std::vector<std::string>& v) {
      std::string s = "[";
      for (size_t i = 0; i < v.size(); ++i) s += (i ? ", '" : "'") + v[i] + "'";
      return s + "]";
    };
    fail(where + ": header entry must have exactly dtype, shape, data_offsets" +
         (missing.empty() ? "" : "; missing " + lst(missing)) +
         (extra.empty() ? "" : "; unknown " + lst(extra)));
  }
  TensorRec t;
  t.name = name;
  const json& dt = e["dtype"];
  if (!dt.is_string()) fail(where + ": dtype must be a string, got " + repr(dt));
  const std::string& d = dt.get_ref<const std::string&>();
  if (d == "F32") t.dtype = DType::kF32;
  else if (d == "I32") t.dtype = DType::kI32;
  else if (d == "U16") t.dtype = DType::kU16;
  else if (d == "U8") t.dtype = DType::kU8;
  else
    fail(where + ": dtype '" + d + "' is " +
         (safetensors_dtypes().count(d) ? "known to safetensors but " : "") +
         "not allowed in a sparse_rt file (F32, I32, U16; U8 for padding)");
  const json& shape = e["shape"];
  bool shape_ok = shape.is_array() && static_cast<int64_t>(shape.size()) <= kMaxRank;
  // byte size with overflow detection: a product that overflows is a mismatch
  unsigned __int128 need = static_cast<unsigned __int128>(itemsize(t.dtype));
  bool overflow = false;
  if (shape_ok) {
    for (const json& x : shape) {
      if (!x.is_number_integer() || (!x.is_number_unsigned() && x.get<int64_t>() < 0)) {
        shape_ok = false;
        break;
      }
      uint64_t u = x.is_number_unsigned() ? x.get<uint64_t>() : uint64_t(x.get<int64_t>());
      if (!overflow) {
        need *= u;
        if (need >> 64) overflow = true;
      }
      if (u > uint64_t(kI64Max)) overflow = true;
      t.shape.push_back(u > uint64_t(kI64Max) ? kI64Max : static_cast<int64_t>(u));
    }
  }
  if (!shape_ok)
    fail(where + ": shape must be a list of at most 8 non-negative integers, got " + repr(shape));
  const json& off = e["data_offsets"];
  if (!(off.is_array() && off.size() == 2 && off[0].is_number_integer() &&
        off[1].is_number_integer()))
    fail(where + ": data_offsets must be [begin, end] integers, got " + repr(off));
  auto as128 = [](const json& x) -> __int128 {
    return x.is_number_unsigned() ? static_cast<__int128>(x.get<uint64_t>())
                                  : static_cast<__int128>(x.get<int64_t>());
  };
  __int128 b = as128(off[0]), en = as128(off[1]);
  const std::string offs = "[" + off[0].dump() + ", " + off[1].dump() + "]";
  if (!(0 <= b && b <= en)) fail(where + ": data_offsets " + offs + " must satisfy 0 <= begin <= end");
  if (en > buf_len)
    fail(where + ": data_offsets " + offs + " extend past the end of the data buffer (" +
         str(buf_len) + " bytes): the file is truncated or the offsets are corrupt");
  t.begin = static_cast<int64_t>(b);
  t.end = static_cast<int64_t>(en);
  if (overflow || need != static_cast<unsigned __int128>(t.end - t.begin)) {
    std::string needs = overflow ? std::string("more than 2^64") : std::to_string(uint64_t(need));
    fail(where + ": shape " + repr(shape) + " of " + d + " needs " + needs +
         " bytes but data_offsets " + offs + " span " + str(t.end - t.begin));
  }
  return t;
}

// ---- the document (§3-§5) ---------------------------------------------------------------------

class AttrReader {
 public:
  AttrReader(std::string ctx, const json& attrs) : ctx_(std::move(ctx)), attrs_(attrs) {}

  const json* get(const char* key, bool required) {
    read_.insert(key);
    auto it = attrs_.find(key);
    if (it != attrs_.end()) return &*it;
    if (required) fail(ctx_ + ": missing required attribute '" + key + "'");
    return nullptr;
  }
  int64_t integer(const char* key, const int64_t* def, int64_t lo = 1, int64_t hi = kMaxDim) {
    const json* v = get(key, def == nullptr);
    if (!v) return *def;
    int64_t x;
    if (!get_int(*v, lo, hi, &x))
      fail(ctx_ + ": attrs." + key + " must be an integer in [" + str(lo) + ", " + str(hi) +
           "], got " + repr(*v));
    return x;
  }
  // A list of integers whose length is in `lengths` (a description for the message).
  std::vector<int64_t> ints(const char* key, const std::vector<size_t>& lengths,
                            const std::string& want, const std::vector<int64_t>* def,
                            int64_t lo = 1, int64_t hi = kMaxDim) {
    const json* v = get(key, def == nullptr);
    if (!v) return *def;
    if (!v->is_array() ||
        std::find(lengths.begin(), lengths.end(), v->size()) == lengths.end())
      fail(ctx_ + ": attrs." + key + " must be a list of " + want + " integers, got " + repr(*v));
    std::vector<int64_t> out;
    for (size_t i = 0; i < v->size(); ++i) {
      int64_t x;
      if (!get_int((*v)[i], lo, hi, &x))
        fail(ctx_ + ": attrs." + key + "[" + std::to_string(i) + "] must be an integer in [" +
             str(lo) + ", " + str(hi) + "], got " + repr((*v)[i]));
      out.push_back(x);
    }
    return out;
  }
  bool boolean(const char* key, const bool* def) {
    const json* v = get(key, def == nullptr);
    if (!v) return *def;
    if (!v->is_boolean()) fail(ctx_ + ": attrs." + key + " must be true or false, got " + repr(*v));
    return v->get<bool>();
  }
  std::string choice(const char* key, const std::vector<std::string>& choices, const char* def) {
    const json* v = get(key, def == nullptr);
    if (!v) return def;
    if (!v->is_string() || std::find(choices.begin(), choices.end(),
                                     v->get_ref<const std::string&>()) == choices.end()) {
      std::string list;
      for (size_t i = 0; i < choices.size(); ++i) list += (i ? ", " : "") + choices[i];
      fail(ctx_ + ": attrs." + key + " must be one of " + list + "; got " + repr(*v));
    }
    return v->get<std::string>();
  }
  double number(const char* key, const double* def) {
    const json* v = get(key, def == nullptr);
    if (!v) return *def;
    double x = v->is_number() ? v->get<double>() : std::nan("");
    if (!v->is_number() || !std::isfinite(x) || !(x >= 0.0))
      fail(ctx_ + ": attrs." + key + " must be a finite number >= 0.0, got " + repr(*v));
    return x;
  }
  void finish() {
    std::vector<std::string> unknown;
    for (auto it = attrs_.begin(); it != attrs_.end(); ++it)
      if (!read_.count(it.key())) unknown.push_back(it.key());
    if (unknown.empty()) return;
    std::vector<std::string> known(read_.begin(), read_.end());
    std::sort(known.begin(), known.end());
    std::string u, k;
    for (size_t i = 0; i < unknown.size(); ++i) u += (i ? ", '" : "'") + unknown[i] + "'";
    for (size_t i = 0; i < known.size(); ++i) k += (i ? ", " : "") + known[i];
    fail(ctx_ + ": unknown attribute(s) " + u + " (known: " + (k.empty() ? "none" : k) + ")");
  }

 private:
  std::string ctx_;
  const json& attrs_;
  std::unordered_set<std::string> read_;
};

const std::vector<std::string>& activation_names() {
  static const std::vector<std::string> v = {"none", "relu", "relu6", "hardswish", "sigmoid"};
  return v;
}

Act parse_act(const std::string& s) {
  if (s == "relu") return Act::kRelu;
  if (s == "relu6") return Act::kRelu6;
  if (s == "hardswish") return Act::kHardswish;
  if (s == "sigmoid") return Act::kSigmoid;
  return Act::kNone;
}

struct OpEntry {
  const char* name;
  OpType op;
};
const OpEntry kOps[] = {
    {"conv2d", OpType::kConv2d},       {"linear", OpType::kLinear},
    {"batch_norm", OpType::kBatchNorm}, {"relu", OpType::kRelu},
    {"relu6", OpType::kRelu6},         {"hardswish", OpType::kHardswish},
    {"sigmoid", OpType::kSigmoid},     {"add", OpType::kAdd},
    {"concat", OpType::kConcat},       {"max_pool2d", OpType::kMaxPool2d},
    {"avg_pool2d", OpType::kAvgPool2d}, {"global_avg_pool", OpType::kGlobalAvgPool},
    {"flatten", OpType::kFlatten},     {"reshape", OpType::kReshape},
    {"softmax", OpType::kSoftmax},     {"identity", OpType::kIdentity},
};

int64_t window_out(int64_t size, int64_t k, int64_t s, int64_t p0, int64_t p1, int64_t d,
                   bool ceil_mode) {
  int64_t span = size + p0 + p1 - d * (k - 1) - 1;
  int64_t out = floordiv(span + (ceil_mode ? s - 1 : 0), s) + 1;
  if (ceil_mode && out >= 1 && (out - 1) * s >= size + p0) out -= 1;
  return out;
}

class Validator {
 public:
  Validator(const json& doc, std::vector<TensorRec>& tensors, graph::Graph& g)
      : doc_(doc), tensors_(tensors), g_(g) {
    for (size_t i = 0; i < tensors_.size(); ++i) by_name_[tensors_[i].name] = i;
  }

  void run() {
    check_head(doc_);
    static const std::vector<std::string> kTop = {"format", "format_version", "inputs",
                                                  "metadata", "nodes", "outputs", "producer"};
    for (auto it = doc_.begin(); it != doc_.end(); ++it)
      if (std::find(kTop.begin(), kTop.end(), it.key()) == kTop.end())
        fail("document: unknown field '" + it.key() +
             "' (known: format, format_version, inputs, metadata, nodes, outputs, producer)");
    auto prod = doc_.find("producer");
    if (prod == doc_.end() || !prod->is_object())
      fail("document: 'producer' must be an object, got " +
           (prod == doc_.end() ? std::string("None") : repr(*prod)));
    auto pname = prod->find("name");
    if (pname == prod->end() || !pname->is_string() || pname->get_ref<const std::string&>().empty())
      fail("document: producer.name must be a non-empty string");
    g_.producer = pname->get<std::string>();
    auto pver = prod->find("version");
    if (pver != prod->end()) {
      if (!pver->is_string()) fail("document: producer.version must be a string, got " + repr(*pver));
      g_.producer += " " + pver->get<std::string>();
    }
    auto meta = doc_.find("metadata");
    if (meta != doc_.end() && !meta->is_object()) fail("document: 'metadata' must be an object");
    for (const char* key : {"inputs", "outputs", "nodes"}) {
      auto it = doc_.find(key);
      if (it == doc_.end() || !it->is_array())
        fail(std::string("document: '") + key + "' must be a list, got " +
             (it == doc_.end() ? std::string("None") : repr(*it)));
    }
    const json& inputs = doc_["inputs"];
    const json& outputs = doc_["outputs"];
    const json& nodes = doc_["nodes"];
    if (inputs.empty()) fail("document: 'inputs' is empty");
    if (outputs.empty()) fail("document: 'outputs' is empty");

    std::vector<int64_t> batches;
    for (size_t i = 0; i < inputs.size(); ++i) {
      std::string name = io_entry("input", i, inputs[i]);
      if (value_ids_.count(name)) fail("graph input '" + name + "' is declared twice");
      int64_t batch;
      std::vector<int64_t> dims = io_shape("graph input '" + name + "'", inputs[i]["shape"], &batch);
      g_.inputs.push_back(add_value(name, dims));
      batches.push_back(batch);
    }
    for (int64_t b : batches)
      if (b != batches[0]) {
        std::string s;
        for (size_t i = 0; i < inputs.size(); ++i)
          s += (i ? ", " : "") + fmt_shape(batches[i], g_.values[g_.inputs[i]].dims);
        fail("graph inputs disagree on the batch dimension (shape[0]): " + s);
      }
    g_.fixed_batch = batches[0];

    std::unordered_set<std::string> node_names;
    for (size_t i = 0; i < nodes.size(); ++i) node(i, nodes[i], node_names);

    std::unordered_set<std::string> seen;
    for (size_t i = 0; i < outputs.size(); ++i) {
      std::string name = io_entry("output", i, outputs[i]);
      const std::string ctx = "graph output '" + name + "'";
      if (!seen.insert(name).second) fail(ctx + " is declared twice");
      auto it = value_ids_.find(name);
      if (it == value_ids_.end()) fail(ctx + " is not produced by any node nor a graph input");
      int64_t batch;
      std::vector<int64_t> dims = io_shape(ctx, outputs[i]["shape"], &batch);
      const graph::Value& v = g_.values[it->second];
      if (batch != g_.fixed_batch || dims != v.dims)
        fail(ctx + ": declared shape " + fmt_shape(batch, dims) + " but the graph computes " +
             fmt_shape(g_.fixed_batch, v.dims));
      g_.outputs.push_back(it->second);
      g_.output_names.push_back(name);
    }

    for (const TensorRec& t : tensors_)  // tensors_ is in data order, padding removed
      if (!t.is_claimed) {
        size_t more = 0;
        for (const TensorRec& u : tensors_) more += !u.is_claimed;
        fail("tensor '" + t.name + "' is not used by any node" +
             (more > 1 ? " (and " + std::to_string(more - 1) + " more)" : ""));
      }
  }

 private:
  int add_value(const std::string& name, std::vector<int64_t> dims) {
    int id = static_cast<int>(g_.values.size());
    g_.values.push_back({name, std::move(dims)});
    value_ids_[name] = id;
    return id;
  }

  std::string io_entry(const char* kind, size_t i, const json& io) {
    const std::string where = std::string("document: ") + kind + "s[" + std::to_string(i) + "]";
    if (!io.is_object()) fail(where + " must be an object, got " + repr(io));
    for (auto it = io.begin(); it != io.end(); ++it)
      if (it.key() != "name" && it.key() != "shape" && it.key() != "dtype")
        fail(where + ": unknown field '" + it.key() + "'");
    auto name = io.find("name");
    if (name == io.end() || !name->is_string() || name->get_ref<const std::string&>().empty())
      fail(where + ": 'name' must be a non-empty string, got " +
           (name == io.end() ? std::string("None") : repr(*name)));
    const std::string n = name->get<std::string>();
    if (!io.contains("shape")) fail(std::string("graph ") + kind + " '" + n + "': missing 'shape'");
    auto dt = io.find("dtype");
    if (dt == io.end() || !dt->is_string() || dt->get_ref<const std::string&>() != "f32")
      fail(std::string("graph ") + kind + " '" + n + "': dtype must be \"f32\", got " +
           (dt == io.end() ? std::string("None") : repr(*dt)));
    return n;
  }

  std::vector<int64_t> io_shape(const std::string& ctx, const json& shape, int64_t* batch) {
    if (!shape.is_array() || shape.empty() || static_cast<int64_t>(shape.size()) > kMaxRank)
      fail(ctx + ": shape must be a list of 1 to 8 dimensions, got " + repr(shape));
    const json& b = shape[0];
    int64_t bv = 0;
    if (b.is_null() || (b.is_number_integer() && !b.is_number_unsigned() && b.get<int64_t>() == -1)) {
      bv = 0;
    } else if (!get_int(b, 1, kMaxDim, &bv)) {
      fail(ctx + ": shape[0] (the batch) must be null, -1 or an integer in [1, 2147483647], got " +
           repr(b));
    }
    std::vector<int64_t> dims;
    for (size_t i = 1; i < shape.size(); ++i) {
      int64_t d;
      if (!get_int(shape[i], 1, kMaxDim, &d))
        fail(ctx + ": shape[" + std::to_string(i) + "] must be an integer in [1, 2147483647], got " +
             repr(shape[i]));
      dims.push_back(d);
    }
    check_numel(ctx, bv, dims);
    *batch = bv;
    return dims;
  }

  static void check_numel(const std::string& ctx, int64_t batch, const std::vector<int64_t>& dims) {
    int64_t n = 1;
    for (int64_t d : dims) n = sat_mul(n, d);
    if (n > kMaxDim)
      fail(ctx + ": shape " + fmt_shape(batch, dims) + " has " +
           (n == kI64Max ? std::string("more than 2^63") : str(n)) +
           " elements per sample, more than the limit 2147483647");
  }

  const TensorRec& tensor(const std::string& ctx, const std::string& name,
                          std::initializer_list<DType> dtypes, const std::vector<int64_t>* shape) {
    auto it = by_name_.find(name);
    if (it != by_name_.end() && tensors_[it->second].is_claimed)
      fail(ctx + ": tensor '" + name + "' is already used by node '" +
           tensors_[it->second].claimed + "'");
    if (it == by_name_.end()) fail(ctx + ": missing tensor '" + name + "'");
    TensorRec& t = tensors_[it->second];
    if (std::find(dtypes.begin(), dtypes.end(), t.dtype) == dtypes.end()) {
      std::string want;
      for (DType d : dtypes) want += (want.empty() ? "" : " or ") + std::string(dtype_code(d));
      fail(ctx + ": tensor '" + name + "' has dtype " + dtype_code(t.dtype) + ", expected " + want);
    }
    if (shape && t.shape != *shape)
      fail(ctx + ": tensor '" + name + "' has shape " + fmt_list(t.shape) + ", expected " +
           fmt_list(*shape));
    t.is_claimed = true;
    t.claimed = node_name_;
    return t;
  }

  void node(size_t i, const json& nd, std::unordered_set<std::string>& node_names) {
    const std::string where = "nodes[" + std::to_string(i) + "]";
    if (!nd.is_object()) fail(where + " must be an object, got " + py_type(nd));
    auto nm = nd.find("name");
    if (nm == nd.end() || !nm->is_string() || nm->get_ref<const std::string&>().empty())
      fail(where + ": 'name' must be a non-empty string, got " +
           (nm == nd.end() ? std::string("None") : repr(*nm)));
    const std::string name = nm->get<std::string>();
    if (name.rfind("__", 0) == 0)
      fail("node '" + name + "': names starting with '__' are reserved");
    if (!node_names.insert(name).second) fail("node '" + name + "': duplicate node name");
    auto opj = nd.find("op");
    if (opj == nd.end() || !opj->is_string())
      fail("node '" + name + "': 'op' must be a string, got " +
           (opj == nd.end() ? std::string("None") : repr(*opj)));
    const std::string opname = opj->get<std::string>();
    const OpEntry* entry = nullptr;
    for (const OpEntry& e : kOps)
      if (opname == e.name) entry = &e;
    if (!entry) {
      std::string known;
      for (const OpEntry& e : kOps) known += (known.empty() ? "" : ", ") + std::string(e.name);
      fail("node '" + name + "': unknown op '" + opname + "' (known ops: " + known + ")");
    }
    const std::string ctx = "node '" + name + "' (" + opname + ")";
    for (auto it = nd.begin(); it != nd.end(); ++it) {
      static const std::vector<std::string> kNodeKeys = {"attrs", "inputs", "layer_info", "name",
                                                         "op", "outputs", "weight"};
      if (std::find(kNodeKeys.begin(), kNodeKeys.end(), it.key()) == kNodeKeys.end())
        fail(ctx + ": unknown field '" + it.key() +
             "' (known: attrs, inputs, layer_info, name, op, outputs, weight)");
    }
    if (nd.contains("layer_info") && !nd["layer_info"].is_object())
      fail(ctx + ": 'layer_info' must be an object");
    static const json kEmpty = json::object();
    const json& attrs = nd.contains("attrs") ? nd["attrs"] : kEmpty;
    if (!attrs.is_object()) fail(ctx + ": 'attrs' must be an object, got " + repr(attrs));

    for (const char* key : {"inputs", "outputs"}) {
      auto it = nd.find(key);
      bool ok = it != nd.end() && it->is_array();
      if (ok)
        for (const json& s : *it)
          if (!s.is_string() || s.get_ref<const std::string&>().empty()) ok = false;
      if (!ok)
        fail(ctx + ": '" + key + "' must be a list of non-empty strings, got " +
             (it == nd.end() ? std::string("None") : repr(*it)));
    }
    const json& ins = nd["inputs"];
    const json& outs = nd["outputs"];
    const OpType op = entry->op;
    size_t lo = 1, hi = 1;
    if (op == OpType::kAdd) lo = hi = 2;
    if (op == OpType::kConcat) hi = std::numeric_limits<size_t>::max();
    if (ins.size() < lo || ins.size() > hi)
      fail(ctx + ": takes " + (lo == hi ? std::to_string(lo) : "at least " + std::to_string(lo)) +
           " input(s), got " + std::to_string(ins.size()));
    if (outs.size() != 1)
      fail(ctx + ": must have exactly 1 output, got " + std::to_string(outs.size()));
    graph::Node n;
    n.name = name;
    n.op = op;
    for (const json& s : ins) {
      auto it = value_ids_.find(s.get<std::string>());
      if (it == value_ids_.end())
        fail(ctx + ": input '" + s.get<std::string>() +
             "' is neither a graph input nor the output of an earlier node");
      n.inputs.push_back(it->second);
    }
    const std::string out_name = outs[0].get<std::string>();
    if (value_ids_.count(out_name))
      fail(ctx + ": output '" + out_name + "' is already defined (value names must be unique)");
    const bool weighted = op == OpType::kConv2d || op == OpType::kLinear;
    if (weighted && !nd.contains("weight")) fail(ctx + ": missing the 'weight' storage descriptor");
    if (!weighted && nd.contains("weight"))
      fail(ctx + ": has a 'weight' descriptor but " + opname + " takes no weight");

    AttrReader a(ctx, attrs);
    node_name_ = name;
    std::vector<int64_t> out = op_shape(ctx, n, nd, a);
    a.finish();
    if (static_cast<int64_t>(out.size()) + 1 > kMaxRank)
      fail(ctx + ": output rank " + std::to_string(out.size() + 1) + " exceeds 8");
    check_numel(ctx, g_.fixed_batch, out);
    n.output = add_value(out_name, std::move(out));
    g_.nodes.push_back(std::move(n));
  }

  const std::vector<int64_t>& in(const graph::Node& n, size_t k) const {
    return g_.values[n.inputs[k]].dims;
  }
  std::string in_shape(const graph::Node& n, size_t k) const {
    return fmt_shape(g_.fixed_batch, in(n, k));
  }

  void padding(AttrReader& a, graph::Attrs& at) {
    static const std::vector<int64_t> zero4 = {0, 0, 0, 0};
    std::vector<int64_t> p = a.ints("padding", {2, 4}, "2 or 4", &zero4, 0);
    if (p.size() == 2) p = {p[0], p[1], p[0], p[1]};
    at.pt = p[0]; at.pl = p[1]; at.pb = p[2]; at.pr = p[3];
  }

  void bias(const std::string& ctx, graph::Node& n, AttrReader& a, int64_t m) {
    static const bool kFalse = false;
    n.attrs.bias = a.boolean("bias", &kFalse);
    if (n.attrs.bias) {
      std::vector<int64_t> shape = {m};
      n.bias = reinterpret_cast<const float*>(tensor(ctx, n.name + ".bias", {DType::kF32}, &shape).ptr);
    }
  }

  Act activation(AttrReader& a) { return parse_act(a.choice("activation", activation_names(), "none")); }

  std::vector<int64_t> op_shape(const std::string& ctx, graph::Node& n, const json& nd,
                                AttrReader& a) {
    graph::Attrs& at = n.attrs;
    static const std::vector<int64_t> ones = {1, 1};
    switch (n.op) {
      case OpType::kConv2d: {
        const std::vector<int64_t>& x = in(n, 0);
        at.in_channels = a.integer("in_channels", nullptr);
        at.out_channels = a.integer("out_channels", nullptr);
        auto k = a.ints("kernel", {2}, "2", nullptr);
        auto s = a.ints("stride", {2}, "2", &ones);
        padding(a, at);
        auto d = a.ints("dilation", {2}, "2", &ones);
        static const int64_t one = 1;
        at.groups = a.integer("groups", &one);
        at.kh = k[0]; at.kw = k[1]; at.sh = s[0]; at.sw = s[1]; at.dh = d[0]; at.dw = d[1];
        bias(ctx, n, a, at.out_channels);
        at.act = activation(a);
        if (at.in_channels % at.groups || at.out_channels % at.groups)
          fail(ctx + ": groups=" + str(at.groups) + " must divide in_channels=" +
               str(at.in_channels) + " and out_channels=" + str(at.out_channels));
        if (x.size() != 3) fail(ctx + ": input must be 4-D (N, C, H, W), got " + in_shape(n, 0));
        if (x[0] != at.in_channels)
          fail(ctx + ": input has " + str(x[0]) + " channels but in_channels=" + str(at.in_channels));
        int64_t ho = window_out(x[1], at.kh, at.sh, at.pt, at.pb, at.dh, false);
        int64_t wo = window_out(x[2], at.kw, at.sw, at.pl, at.pr, at.dw, false);
        if (ho < 1 || wo < 1)
          fail(ctx + ": the dilated kernel [" + str(at.kh) + ", " + str(at.kw) +
               "] does not fit the padded input " + in_shape(n, 0) + " (output would be " +
               str(ho) + "x" + str(wo) + ")");
        int64_t K = sat_mul(sat_mul(at.in_channels / at.groups, at.kh), at.kw);
        if (K > kMaxDim)
          fail(ctx + ": weight has " + (K == kI64Max ? std::string("more than 2^63") : str(K)) +
               " columns, more than 2147483647");
        std::vector<int64_t> dense = {at.out_channels, at.in_channels / at.groups, at.kh, at.kw};
        weight(ctx, n, nd, at.out_channels, K, dense, at.out_channels / at.groups);
        return {at.out_channels, ho, wo};
      }
      case OpType::kLinear: {
        const std::vector<int64_t>& x = in(n, 0);
        at.in_features = a.integer("in_features", nullptr);
        at.out_features = a.integer("out_features", nullptr);
        bias(ctx, n, a, at.out_features);
        at.act = activation(a);
        if (x.size() != 1) fail(ctx + ": input must be 2-D (N, features), got " + in_shape(n, 0));
        if (x[0] != at.in_features)
          fail(ctx + ": input has " + str(x[0]) + " features but in_features=" + str(at.in_features));
        std::vector<int64_t> dense = {at.out_features, at.in_features};
        weight(ctx, n, nd, at.out_features, at.in_features, dense, 0);
        return {at.out_features};
      }
      case OpType::kBatchNorm: {
        const std::vector<int64_t>& x = in(n, 0);
        at.channels = a.integer("channels", nullptr);
        at.bn_stats = a.choice("form", {"stats", "scale_shift"}, "stats") == "stats";
        if (x.empty() || x[0] != at.channels)
          fail(ctx + ": input " + in_shape(n, 0) + " must have channels=" + str(at.channels) +
               " in dimension 1");
        std::vector<int64_t> shape = {at.channels};
        auto param = [&](const char* role) {
          return reinterpret_cast<const float*>(
              tensor(ctx, n.name + "." + role, {DType::kF32}, &shape).ptr);
        };
        if (at.bn_stats) {
          static const double kEps = 1e-5;
          at.eps = a.number("eps", &kEps);
          n.mean = param("mean");
          n.var = param("var");
          for (int64_t c = 0; c < at.channels; ++c) {
            double v = n.var[c];
            if (!(v >= 0 && v + at.eps > 0)) {
              char buf[64];
              std::snprintf(buf, sizeof buf, "%.17g", v);
              std::string vs = std::isnan(v) ? "nan" : buf;
              fail(ctx + ": tensor '" + n.name + ".var'[" + str(c) + "] = " + vs +
                   ": the variance must be >= 0 and var + eps > 0");
            }
          }
          n.gamma = param("gamma");
          n.beta = param("beta");
        } else {
          n.scale = param("scale");
          n.shift = param("shift");
        }
        return x;
      }
      case OpType::kRelu: case OpType::kRelu6: case OpType::kHardswish:
      case OpType::kSigmoid: case OpType::kIdentity:
        return in(n, 0);
      case OpType::kAdd:
        at.act = activation(a);
        if (in(n, 0) != in(n, 1))
          fail(ctx + ": inputs have different shapes " + in_shape(n, 0) + " and " +
               in_shape(n, 1) + " (add does not broadcast)");
        return in(n, 0);
      case OpType::kConcat: {
        static const int64_t one = 1;
        at.axis = a.integer("axis", &one, 1, 1);
        const std::vector<int64_t>& first = in(n, 0);
        if (first.empty())
          fail(ctx + ": inputs must have at least 2 dimensions, got " + in_shape(n, 0));
        int64_t c = 0;
        for (size_t k = 0; k < n.inputs.size(); ++k) {
          const std::vector<int64_t>& s = in(n, k);
          if (s.size() != first.size() || !std::equal(s.begin() + 1, s.end(), first.begin() + 1))
            fail(ctx + ": input shapes " + in_shape(n, 0) + " and " + in_shape(n, k) +
                 " differ outside axis 1");
          c += s[0];
        }
        std::vector<int64_t> out = first;
        out[0] = c;
        return out;
      }
      case OpType::kMaxPool2d:
      case OpType::kAvgPool2d: {
        const bool is_max = n.op == OpType::kMaxPool2d;
        const std::vector<int64_t>& x = in(n, 0);
        auto k = a.ints("kernel", {2}, "2", nullptr);
        auto s = a.ints("stride", {2}, "2", &k);
        padding(a, at);
        auto d = is_max ? a.ints("dilation", {2}, "2", &ones) : ones;
        static const bool kFalse = false, kTrue = true;
        at.ceil_mode = a.boolean("ceil_mode", &kFalse);
        if (!is_max) at.count_include_pad = a.boolean("count_include_pad", &kTrue);
        at.kh = k[0]; at.kw = k[1]; at.sh = s[0]; at.sw = s[1]; at.dh = d[0]; at.dw = d[1];
        if (std::max(at.pt, at.pb) > at.kh / 2 || std::max(at.pl, at.pr) > at.kw / 2)
          fail(ctx + ": padding " + fmt_list({at.pt, at.pl, at.pb, at.pr}) +
               " exceeds half the kernel [" + str(at.kh) + ", " + str(at.kw) + "]");
        if (x.size() != 3) fail(ctx + ": input must be 4-D (N, C, H, W), got " + in_shape(n, 0));
        int64_t ho = window_out(x[1], at.kh, at.sh, at.pt, at.pb, at.dh, at.ceil_mode);
        int64_t wo = window_out(x[2], at.kw, at.sw, at.pl, at.pr, at.dw, at.ceil_mode);
        if (ho < 1 || wo < 1)
          fail(ctx + ": the window [" + str(at.kh) + ", " + str(at.kw) +
               "] does not fit the padded input " + in_shape(n, 0) + " (output would be " +
               str(ho) + "x" + str(wo) + ")");
        return {x[0], ho, wo};
      }
      case OpType::kGlobalAvgPool: {
        const std::vector<int64_t>& x = in(n, 0);
        if (x.size() != 3) fail(ctx + ": input must be 4-D (N, C, H, W), got " + in_shape(n, 0));
        return {x[0], 1, 1};
      }
      case OpType::kFlatten: {
        const std::vector<int64_t>& x = in(n, 0);
        if (x.empty())
          fail(ctx + ": input must have at least 2 dimensions, got " + in_shape(n, 0));
        return {g_.values[n.inputs[0]].numel()};
      }
      case OpType::kReshape: {
        auto shape = a.ints("shape", {1, 2, 3, 4, 5, 6, 7}, "1 to 7", nullptr, -1);
        if (std::find(shape.begin(), shape.end(), 0) != shape.end())
          fail(ctx + ": attrs.shape " + fmt_list(shape) + " contains 0");
        const int64_t numel = g_.values[n.inputs[0]].numel();
        if (std::count(shape.begin(), shape.end(), -1) > 1)
          fail(ctx + ": attrs.shape " + fmt_list(shape) + " has more than one -1");
        int64_t known = 1;
        for (int64_t d : shape)
          if (d != -1) known = sat_mul(known, d);
        if (std::find(shape.begin(), shape.end(), -1) != shape.end()) {
          if (numel % known)
            fail(ctx + ": cannot reshape " + in_shape(n, 0) + " to [batch] + " + fmt_list(shape));
          for (int64_t& d : shape)
            if (d == -1) d = numel / known;
        } else if (known != numel) {
          fail(ctx + ": cannot reshape " + in_shape(n, 0) + " (" + str(numel) +
               " elements per sample) to [batch] + " + fmt_list(shape) + " (" +
               (known == kI64Max ? std::string("more than 2^63") : str(known)) + ")");
        }
        return shape;
      }
      case OpType::kSoftmax: {
        static const int64_t minus1 = -1;
        int64_t axis = a.integer("axis", &minus1, -kMaxRank, kMaxRank - 1);
        const int64_t r = static_cast<int64_t>(in(n, 0).size()) + 1;
        int64_t ax = axis < 0 ? axis + r : axis;
        if (!(1 <= ax && ax < r))
          fail(ctx + ": axis " + str(axis) + " is out of range for input " + in_shape(n, 0) +
               " (the batch axis 0 is not allowed)");
        at.axis = ax;
        return in(n, 0);
      }
    }
    fail(ctx + ": unsupported op");
  }

  // The storage descriptor (§4.1) and its tensors (§4.2-§4.4).
  void weight(const std::string& ctx, graph::Node& n, const json& nd, int64_t M, int64_t K,
              const std::vector<int64_t>& dense_shape, int64_t groups_rows) {
    const json& w = nd["weight"];
    if (!w.is_object()) fail(ctx + ": 'weight' must be an object, got " + repr(w));
    for (auto it = w.begin(); it != w.end(); ++it)
      if (it.key() != "format" && it.key() != "shape" && it.key() != "blocksize")
        fail(ctx + ": weight: unknown field '" + it.key() + "'");
    auto f = w.find("format");
    std::string fmt = (f != w.end() && f->is_string()) ? f->get<std::string>() : "";
    if (fmt != "dense" && fmt != "csr" && fmt != "bsr")
      fail(ctx + ": weight.format must be one of dense, csr, bsr, got " +
           (f == w.end() ? std::string("None") : repr(*f)));
    auto sh = w.find("shape");
    int64_t m0 = -1, k0 = -1;
    if (sh == w.end() || !sh->is_array() || sh->size() != 2 || !get_int((*sh)[0], 0, kI64Max, &m0) ||
        !get_int((*sh)[1], 0, kI64Max, &k0) || m0 != M || k0 != K)
      fail(ctx + ": weight.shape must be [" + str(M) + ", " + str(K) +
           "] for these attributes, got " + (sh == w.end() ? std::string("None") : repr(*sh)));
    graph::Weight& wt = n.weight;
    wt.rows = M;
    wt.cols = K;
    int64_t r = 1, c = 1;
    if (fmt == "bsr") {
      auto bs = w.find("blocksize");
      if (bs == w.end() || !bs->is_array() || bs->size() != 2 || !get_int((*bs)[0], 1, kMaxDim, &r) ||
          !get_int((*bs)[1], 1, kMaxDim, &c))
        fail(ctx + ": weight.blocksize must be [r, c] with positive integers, got " +
             (bs == w.end() ? std::string("None") : repr(*bs)));
      const std::string bss = "[" + str(r) + ", " + str(c) + "]";
      if (M % r || K % c)
        fail(ctx + ": weight.blocksize " + bss + " does not divide the weight shape [" + str(M) +
             ", " + str(K) + "]");
      if (groups_rows && groups_rows % r)
        fail(ctx + ": weight.blocksize " + bss + ": r=" + str(r) +
             " must divide out_channels/groups = " + str(groups_rows) +
             " (a block must not span two groups)");
      wt.format = graph::WeightFormat::kBsr;
    } else if (w.contains("blocksize")) {
      fail(ctx + ": weight.blocksize is only allowed with format \"bsr\"");
    }
    wt.br = r;
    wt.bc = c;
    const std::string base = n.name + ".weight";
    if (fmt == "dense") {
      wt.format = graph::WeightFormat::kDense;
      wt.data = reinterpret_cast<const float*>(tensor(ctx, base, {DType::kF32}, &dense_shape).ptr);
      return;
    }
    if (fmt == "csr") wt.format = graph::WeightFormat::kCsr;
    const std::string iname = base + ".indices", pname = base + ".indptr", dname = base + ".data";
    const TensorRec& idx = tensor(ctx, iname, {DType::kI32, DType::kU16}, nullptr);
    if (idx.shape.size() != 1)
      fail(ctx + ": tensor '" + iname + "' must be 1-D, has shape " + fmt_list(idx.shape));
    const int64_t nnz = idx.shape[0];
    const int64_t rows = M / r, cols = K / c;
    std::vector<int64_t> ip_shape = {rows + 1};
    const TensorRec& ip = tensor(ctx, pname, {DType::kI32}, &ip_shape);
    std::vector<int64_t> data_shape = fmt == "csr" ? std::vector<int64_t>{nnz}
                                                   : std::vector<int64_t>{nnz, r, c};
    const TensorRec& data = tensor(ctx, dname, {DType::kF32}, &data_shape);
    const int32_t* indptr = reinterpret_cast<const int32_t*>(ip.ptr);
    const int32_t* indices32 = nullptr;
    if (idx.dtype == DType::kU16) {
      // widened once to the int32 the kernels take; nnz is backed by bytes in the file
      const uint16_t* u = reinterpret_cast<const uint16_t*>(idx.ptr);
      g_.widened.emplace_back(u, u + nnz);
      indices32 = g_.widened.back().data();
    } else {
      indices32 = reinterpret_cast<const int32_t*>(idx.ptr);
    }
    check_compressed(ctx, pname, iname, indptr, indices32, nnz, rows, cols,
                     fmt == "csr" ? "non-zeros" : "blocks");
    wt.data = reinterpret_cast<const float*>(data.ptr);
    wt.indices = indices32;
    wt.indptr = indptr;
    wt.nnz = nnz;
  }

  // CSR/BSR invariants of §4.3, in the reference's order.
  static void check_compressed(const std::string& ctx, const std::string& ipn,
                               const std::string& idn, const int32_t* ip, const int32_t* idx,
                               int64_t nnz, int64_t rows, int64_t cols, const std::string& unit) {
    if (ip[0] != 0)
      fail(ctx + ": tensor '" + ipn + "'[0] must be 0, got " + std::to_string(ip[0]));
    for (int64_t i = 0; i < rows; ++i)
      if (ip[i + 1] < ip[i])
        fail(ctx + ": tensor '" + ipn + "' decreases at row " + str(i) + ": indptr[" + str(i) +
             "] = " + std::to_string(ip[i]) + " > indptr[" + str(i + 1) + "] = " +
             std::to_string(ip[i + 1]));
    if (ip[rows] != nnz)
      fail(ctx + ": tensor '" + ipn + "'[-1] = " + std::to_string(ip[rows]) + " but '" + idn +
           "' holds " + str(nnz) + " " + unit);
    auto row_of = [&](int64_t p) {  // last row whose start is <= p
      int64_t r = std::upper_bound(ip, ip + rows + 1, static_cast<int32_t>(p)) - ip - 1;
      return r;
    };
    for (int64_t p = 0; p < nnz; ++p)
      if (idx[p] < 0 || idx[p] >= cols)
        fail(ctx + ": tensor '" + idn + "'[" + str(p) + "] = " + std::to_string(idx[p]) +
             " (row " + str(row_of(p)) + ") is out of range: the " +
             (unit == "blocks" ? "block column" : "column") + " must be in [0, " + str(cols) + ")");
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t p = int64_t{ip[i]} + 1; p < ip[i + 1]; ++p)
        if (idx[p] <= idx[p - 1]) {
          // report the first offending position over the whole array, as the reference does
          fail(ctx + ": tensor '" + idn + "': row " + str(i) + " is not strictly increasing (indices[" +
               str(p - 1) + "] = " + std::to_string(idx[p - 1]) + ", indices[" + str(p) + "] = " +
               std::to_string(idx[p]) + "); indices must be sorted within each row, without duplicates");
        }
  }

  const json& doc_;
  std::vector<TensorRec>& tensors_;
  graph::Graph& g_;
  std::unordered_map<std::string, size_t> by_name_;
  std::unordered_map<std::string, int> value_ids_;
  std::string node_name_;
};

}  // namespace

graph::Graph parse_model(const uint8_t* data, size_t size, std::shared_ptr<const void> keep_alive) {
  // §6 step 1
  if (size < 8) fail("file is " + std::to_string(size) + " bytes, too short to hold the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  if (n < 2 || n > kMaxHeader)
    fail("header length " + std::to_string(n) + " is out of range [2, " +
         std::to_string(kMaxHeader) + "]: not a safetensors file or a corrupt header length");
  if (8 + n > size)
    fail("header length " + std::to_string(n) + " exceeds the " + std::to_string(size - 8) +
         " bytes that follow it: the file is truncated or the header length is corrupt");
  // step 2
  const uint8_t* hdr = data + 8;
  if (hdr[0] != '{')
    fail("header does not start with '{': not a safetensors file or a corrupt header length");
  size_t bad = 0;
  if (!valid_utf8(hdr, n, &bad))
    fail("header is not valid UTF-8: invalid byte at position " + std::to_string(bad));
  std::vector<std::string> order;
  json header = parse_json(reinterpret_cast<const char*>(hdr), reinterpret_cast<const char*>(hdr + n),
                           "header", &order);
  if (!header.is_object()) fail("header must be a JSON object");
  // step 3
  auto meta = header.find("__metadata__");
  if (meta == header.end() || !meta->is_object())
    fail("header: no '__metadata__' object: not a sparse_rt model (a plain safetensors file?)");
  for (auto it = meta->begin(); it != meta->end(); ++it)
    if (!it->is_string())
      fail("header: __metadata__['" + it.key() + "'] must be a string, got " + py_type(*it));
  auto docs = meta->find("sparse_rt");
  if (docs == meta->end())
    fail("header: __metadata__ has no 'sparse_rt' entry: not a sparse_rt model");
  const std::string& doc_text = docs->get_ref<const std::string&>();
  json doc = parse_json(doc_text.data(), doc_text.data() + doc_text.size(),
                        "__metadata__['sparse_rt']", nullptr);
  // step 4
  check_head(doc);
  // step 5
  const uint64_t data_start = 8 + n;
  const int64_t buf_len = static_cast<int64_t>(size - data_start);
  if (data_start % kAlign)
    fail("the data buffer starts at byte " + std::to_string(data_start) +
         ", not a multiple of 64 (the header must be padded with spaces)");
  // step 6
  std::vector<TensorRec> entries;
  for (const std::string& name : order) {
    if (name == "__metadata__") continue;
    entries.push_back(tensor_entry(name, header[name], buf_len));
    entries.back().order = entries.size();
  }
  // step 7: contiguous cover of the data buffer
  std::sort(entries.begin(), entries.end(), [](const TensorRec& a, const TensorRec& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.end != b.end) return a.end < b.end;
    return a.order < b.order;
  });
  int64_t pos = 0;
  std::string prev;
  for (const TensorRec& t : entries) {
    const std::string offs = "[" + str(t.begin) + ", " + str(t.end) + "]";
    if (t.begin < pos)
      fail("tensor '" + t.name + "': data_offsets " + offs + " overlap tensor '" + prev +
           "' (which ends at " + str(pos) + ")");
    if (t.begin > pos)
      fail("tensor '" + t.name + "': data_offsets " + offs + " leave a gap of " +
           str(t.begin - pos) + " bytes after offset " + str(pos) +
           "; tensors must cover the data buffer contiguously");
    pos = t.end;
    prev = t.name;
  }
  if (pos != buf_len)
    fail("the data buffer has " + str(buf_len) + " bytes but the tensors cover " + str(pos) +
         ": trailing bytes after the last tensor");
  std::vector<TensorRec> tensors;
  for (TensorRec& t : entries) {
    if (t.name.rfind("__pad_", 0) == 0) {
      if (t.dtype != DType::kU8 || t.shape.size() != 1 || t.shape[0] < 1 || t.shape[0] >= kAlign)
        fail("tensor '" + t.name + "': a padding tensor must be U8 with shape [p], 1 <= p < 64; got " +
             dtype_code(t.dtype) + " " + fmt_list(t.shape));
      continue;
    }
    if (t.name.rfind("__", 0) == 0)
      fail("tensor '" + t.name + "': names starting with '__' are reserved");
    if (t.begin % kAlign)
      fail("tensor '" + t.name + "': data starts at offset " + str(t.begin) +
           " of the data buffer, not a multiple of 64");
    t.ptr = data + data_start + t.begin;
    tensors.push_back(std::move(t));
  }
  // steps 8-9
  graph::Graph g;
  g.storage = std::move(keep_alive);
  Validator(doc, tensors, g).run();
  return g;
}

graph::Graph read_model(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw InvalidArgument("cannot open model file '" + path + "': " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw InvalidArgument("model file '" + path + "' is not a regular file");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  try {
    if (size < 8) {
      ::close(fd);
      fail("file is " + std::to_string(size) + " bytes, too short to hold the 8-byte header length");
    }
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) throw InvalidArgument("cannot map model file '" + path + "': " + std::strerror(errno));
    std::shared_ptr<const void> keep(p, [size](const void* q) { ::munmap(const_cast<void*>(q), size); });
    return parse_model(static_cast<const uint8_t*>(p), size, std::move(keep));
  } catch (const ModelFormatError& e) {
    throw ModelFormatError(path + ": " + e.what());
  }
}

}  // namespace sparse_rt::io
