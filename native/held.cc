#include "held.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <new>

namespace lk {

HeldArray::HeldArray(std::size_t bytes) : bytes_(bytes) {
  // 64-byte aligned, at least one byte: an empty dataset still has an address of its own.
  const std::size_t size = std::max<std::size_t>(64, (bytes + 63) / 64 * 64);
  data_ = std::aligned_alloc(64, size);
  if (!data_) throw std::bad_alloc();
}

HeldArray::~HeldArray() { std::free(data_); }

template <typename T>
std::shared_ptr<const void> HeldArray::clusters(int dim, bool rowMajor, const int32_t* cancel, const ClusterTree** tree,
                                                const T** sorted) {
  // Built outside the lock, published under it (the first to finish wins): a build of
  // 10^7 points takes seconds, and its builder may be a background job at the lowest
  // scheduling priority, which must not keep a foreground call or a Sync call waiting.
  const std::size_t count = bytes_ / sizeof(T) / static_cast<std::size_t>(dim);
  auto findLocked = [&]() -> std::shared_ptr<Clusters> {
    auto it = std::find_if(clusters_.begin(), clusters_.end(), [&](const auto& c) { return c->dim == dim; });
    return it == clusters_.end() ? nullptr : *it;
  };
  std::shared_ptr<Clusters> c;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    c = findLocked();
  }
  if (!c) {
    auto made = std::make_shared<Clusters>();
    made->dim = dim;
    made->tree = buildClusterTree(static_cast<const T*>(data_), count, dim, cancel);
    std::lock_guard<std::mutex> lock(mutex_);
    c = findLocked();
    if (!c) clusters_.push_back(c = made);
  }
  // The sorted layout the same way; once set, a layout never changes (a running call may
  // read the other one meanwhile: a separate vector).
  std::vector<unsigned char>* s = rowMajor ? &c->rowMajor : &c->colMajor;
  bool ready;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ready = !s->empty() || count == 0;
  }
  if (!ready) {
    std::vector<unsigned char> made(count * dim * sizeof(T));
    if (rowMajor)
      gatherRows(c->tree, static_cast<const T*>(data_), dim, reinterpret_cast<T*>(made.data()));
    else
      gatherColumns(c->tree, static_cast<const T*>(data_), dim, reinterpret_cast<T*>(made.data()));
    std::lock_guard<std::mutex> lock(mutex_);
    if (s->empty()) *s = std::move(made);
  }
  *tree = &c->tree;
  *sorted = reinterpret_cast<const T*>(s->data());
  return c;
}

template <typename T>
void HeldArray::box(int dim, double* lo, double* hi) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = std::find_if(boxes_.begin(), boxes_.end(), [&](const auto& b) { return b.first == dim; });
  if (it == boxes_.end()) {
    std::vector<double> b(2 * static_cast<std::size_t>(dim));
    boundingBox(static_cast<const T*>(data_), bytes_ / sizeof(T) / static_cast<std::size_t>(dim), dim, b.data(), b.data() + dim);
    boxes_.emplace_back(dim, std::move(b));
    it = boxes_.end() - 1;
  }
  std::copy(it->second.begin(), it->second.begin() + dim, lo);
  std::copy(it->second.begin() + dim, it->second.end(), hi);
}

template <typename T>
std::shared_ptr<const void> HeldArray::componentMajor(int dim, const T** out) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = std::find_if(transposed_.begin(), transposed_.end(), [&](const auto& t) { return t.first == dim; });
  if (it == transposed_.end()) {
    const std::size_t count = bytes_ / sizeof(T) / static_cast<std::size_t>(dim);
    auto t = std::make_shared<std::vector<unsigned char>>(std::max<std::size_t>(1, count * dim * sizeof(T)));
    const T* in = static_cast<const T*>(data_);
    T* o = reinterpret_cast<T*>(t->data());
    for (std::size_t j = 0; j < count; ++j)
      for (int c = 0; c < dim; ++c) o[c * count + j] = in[j * dim + c];
    transposed_.emplace_back(dim, std::move(t));
    it = transposed_.end() - 1;
  }
  *out = reinterpret_cast<const T*>(it->second->data());
  return it->second;
}

template <typename T>
std::shared_ptr<const HeldArray::Gathered> HeldArray::gathered(const std::shared_ptr<const void>& treeOwner,
                                                             const ClusterTree& tree, int width, bool ones) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Entries whose tree is gone can never match again.
  gathered_.erase(std::remove_if(gathered_.begin(), gathered_.end(), [](const GatheredFor& g) { return g.owner.expired(); }),
                  gathered_.end());
  for (const GatheredFor& g : gathered_)
    if (g.owner.lock() == treeOwner && g.tree == &tree && g.width == width && g.ones == ones) return g.gathered;
  auto made = std::make_shared<Gathered>();
  const int columns = width + (ones ? 1 : 0);
  made->values.resize(std::max<std::size_t>(1, tree.count * columns * sizeof(T)));
  T* v = reinterpret_cast<T*>(made->values.data());
  std::fill(v, v + tree.count * columns, T(1));
  gatherColumns(tree, static_cast<const T*>(data_), width, v);
  made->absSums = absoluteSums(tree, v, columns);
  gathered_.push_back({treeOwner, &tree, width, ones, made});
  return made;
}

int HeldArray::clusterCount() {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(clusters_.size());
}

void HeldArray::dropClusters() {
  std::lock_guard<std::mutex> lock(mutex_);
  clusters_.clear();
  transposed_.clear();
  gathered_.clear();
}

template std::shared_ptr<const void> HeldArray::componentMajor<float>(int, const float**);
template std::shared_ptr<const void> HeldArray::componentMajor<double>(int, const double**);
template std::shared_ptr<const HeldArray::Gathered> HeldArray::gathered<float>(const std::shared_ptr<const void>&,
                                                                              const ClusterTree&, int, bool);
template std::shared_ptr<const HeldArray::Gathered> HeldArray::gathered<double>(const std::shared_ptr<const void>&,
                                                                               const ClusterTree&, int, bool);
template void HeldArray::box<float>(int, double*, double*);
template void HeldArray::box<double>(int, double*, double*);
template std::shared_ptr<const void> HeldArray::clusters<float>(int, bool, const int32_t*, const ClusterTree**,
                                                                 const float**);
template std::shared_ptr<const void> HeldArray::clusters<double>(int, bool, const int32_t*, const ClusterTree**,
                                                                  const double**);

namespace {

struct Registry {
  std::mutex mutex;
  std::map<const void*, std::weak_ptr<HeldArray>> byAddress;
};

Registry& registry() {
  static Registry* r = new Registry();  // leaked: views may be collected during exit
  return *r;
}

}  // namespace

void rememberHeld(const std::shared_ptr<HeldArray>& a) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.byAddress[a->data()] = a;
}

void forgetHeld(const HeldArray* a) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.byAddress.find(a->data());
  if (it != r.byAddress.end() && it->second.lock().get() == a) r.byAddress.erase(it);
}

std::shared_ptr<HeldArray> findHeld(const void* data, std::size_t bytes) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.byAddress.find(data);
  if (it == r.byAddress.end()) return nullptr;
  std::shared_ptr<HeldArray> a = it->second.lock();
  return a && a->bytes() == bytes ? a : nullptr;
}

}  // namespace lk
