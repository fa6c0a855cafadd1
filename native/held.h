// Arrays the addon holds for many calls (lib/dataset.ts): a service's dataset, copied in
// once, then passed to every call without a copy, with the clusters pruning builds on
// it kept beside it (built once, on first use, on the engine's threads). Free of N-API:
// the binding makes the JS view (an external ArrayBuffer) and finds held arrays again
// by their address.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "cpu/cluster.h"

namespace lk {

class HeldArray {
 public:
  explicit HeldArray(std::size_t bytes);
  ~HeldArray();
  HeldArray(const HeldArray&) = delete;
  HeldArray& operator=(const HeldArray&) = delete;

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }

  // The array's clusters as `count` points of `dim` coordinates of type T, and the
  // points sorted into cluster order, row-major (rowMajor) or component-major: built by
  // the first call that asks (outside the array's lock; two at once may both build, the
  // first to finish is kept), and kept (the data is not written
  // after it is filled: lib/dataset.ts says so). The pointers stay valid while the
  // returned handle lives, whatever dropClusters() does meanwhile. Throws Cancelled.
  template <typename T>
  std::shared_ptr<const void> clusters(int dim, bool rowMajor, const int32_t* cancel, const ClusterTree** tree,
                                       const T** sorted);

  // The bounding box of the array as points of `dim` coordinates of type T: lo and hi,
  // dim values each; computed once per dimension and kept (pruning's cost model).
  template <typename T>
  void box(int dim, double* lo, double* hi);
  // The array as `width` columns gathered into another point set's cluster order
  // (`tree`, kept alive by `treeOwner`: the handle clusters() returned), component-major,
  // with a column of ones after them when `ones` (a softmax's denominator), and Σ|·| per
  // node of that tree (absoluteSums): a held b reduced against held points, gathered once
  // instead of at every pruned call. Valid while the returned handle lives.
  struct Gathered {
    std::vector<unsigned char> values;
    std::vector<double> absSums;
  };
  template <typename T>
  std::shared_ptr<const Gathered> gathered(const std::shared_ptr<const void>& treeOwner, const ClusterTree& tree,
                                           int width, bool ones);

  // Drops the clusters (dispose()): the next pruned call builds them again.
  void dropClusters();
  // How many dimensions it has clusters for (tests).
  int clusterCount();

  // The array as rows of `dim` values of type T, transposed to component-major (the
  // layout of the engine's j-variables): made on first use and kept, so that a call
  // against many held points does not transpose them every time. Valid while the
  // returned handle lives.
  template <typename T>
  std::shared_ptr<const void> componentMajor(int dim, const T** out);

 private:
  struct Clusters {
    int dim = 0;
    ClusterTree tree;
    std::vector<unsigned char> rowMajor, colMajor;
  };
  void* data_;
  std::size_t bytes_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<Clusters>> clusters_;
  std::vector<std::pair<int, std::vector<double>>> boxes_;  // dim, then lo and hi
  std::vector<std::pair<int, std::shared_ptr<std::vector<unsigned char>>>> transposed_;
  struct GatheredFor {
    std::weak_ptr<const void> owner;  // the tree's holder: alive, its address is not reused
    const ClusterTree* tree;
    int width;
    bool ones;
    std::shared_ptr<const Gathered> gathered;
  };
  std::vector<GatheredFor> gathered_;
};

// The registry of held arrays by address: register on creation, forget when the JS view
// is collected. find() gives the array whose memory is exactly [data, data + bytes), or null.
void rememberHeld(const std::shared_ptr<HeldArray>& a);
void forgetHeld(const HeldArray* a);
std::shared_ptr<HeldArray> findHeld(const void* data, std::size_t bytes);

}  // namespace lk
