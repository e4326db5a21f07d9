#pragma once
/// \file
/// StateDict: an ordered list of (name, TensorRef), the C++ counterpart of the
/// OrderedDict that torch's Module.state_dict() returns. It references tensors
/// it does not own (a module's, or a loaded file's).

#include <string>
#include <utility>
#include <vector>

#include "r2plus1d/core/dtype.hpp"
#include "r2plus1d/core/error.hpp"

namespace r2plus1d {

/// Name, element type and shape of one stored tensor.
struct TensorInfo {
  std::string name;            ///< The key, e.g. "conv1.weight".
  DType dtype = DType::F32;    ///< The element type as stored.
  std::vector<index_t> shape;  ///< The sizes, outermost first.
};

/// One named tensor of a state dict.
struct NamedTensor {
  std::string name;  ///< The key, e.g. "conv1.weight".
  TensorRef ref;     ///< The tensor, referenced (not owned).
};

/// Ordered (name, tensor) list with lookup by name; insertion order is kept,
/// as torch's state_dict order. It is also a tensor source for load_state_dict.
class StateDict {
 public:
  /// Iterates the entries (NamedTensor) in insertion order.
  using const_iterator = std::vector<NamedTensor>::const_iterator;

  /// Appends an entry; names are not checked for repeats.
  void add(std::string name, TensorRef ref) { entries_.push_back({std::move(name), std::move(ref)}); }
  ///@{
  /// The number of entries, whether there are none, iteration in order, and the
  /// i-th entry (unchecked).
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }
  const NamedTensor& operator[](std::size_t i) const { return entries_[i]; }
  ///@}

  /// The entry called `name`, or nullptr.
  const TensorRef* find(const std::string& name) const {
    for (const auto& e : entries_)
      if (e.name == name) return &e.ref;
    return nullptr;
  }
  /// Whether there is an entry called `name`.
  bool contains(const std::string& name) const { return find(name) != nullptr; }
  /// The entry called `name`; throws StateDictError when there is none.
  const TensorRef& at(const std::string& name) const {
    if (const TensorRef* r = find(name)) return *r;
    throw StateDictError("state dict has no key " + quote(name));
  }
  /// The names, in order.
  std::vector<std::string> keys() const {
    std::vector<std::string> k;
    k.reserve(entries_.size());
    for (const auto& e : entries_) k.push_back(e.name);
    return k;
  }

  /// The entries whose names start with `prefix`, with the prefix removed
  /// (e.g. "res2plus1d." to load a classifier's backbone into R2Plus1DNet).
  StateDict with_prefix_stripped(const std::string& prefix) const {
    StateDict out;
    for (const auto& e : entries_)
      if (e.name.compare(0, prefix.size(), prefix) == 0) out.add(e.name.substr(prefix.size()), e.ref);
    return out;
  }

  /// Name, dtype and shape of every entry, in order: with read, the tensor
  /// source interface (shared with io::SafetensorsReader) of load_state_dict.
  std::vector<TensorInfo> infos() const {
    std::vector<TensorInfo> v;
    v.reserve(entries_.size());
    for (const auto& e : entries_) v.push_back({e.name, e.ref.dtype, e.ref.shape});
    return v;
  }
  /// Copies the entry `name` into `dst`, converting the element type; shapes must have equal numel.
  void read(const std::string& name, const TensorRef& dst) const {
    const TensorRef& src = at(name);
    if (src.numel() != dst.numel())
      throw StateDictError("state dict: " + quote(name) + " has " + std::to_string(src.numel()) + " elements, expected " +
                           std::to_string(dst.numel()));
    convert_elements(src.data, src.dtype, dst.data, dst.dtype, src.numel());
  }

 private:
  std::vector<NamedTensor> entries_;
};

}  // namespace r2plus1d
