#include "entries.h"

#include <algorithm>
#include <cstring>

namespace lk {
namespace {

// Rows `pick` of a row-major array of rows of rowBytes bytes, in that order (at least one
// byte, so that an empty pick still has an address).
template <typename Index>
std::vector<unsigned char> pickRows(const void* array, std::size_t rowBytes, const std::vector<Index>& pick) {
  std::vector<unsigned char> out(std::max<std::size_t>(1, pick.size() * rowBytes));
  const auto* src = static_cast<const unsigned char*>(array);
  for (std::size_t k = 0; k < pick.size(); ++k) std::memcpy(&out[k * rowBytes], src + pick[k] * rowBytes, rowBytes);
  return out;
}

}  // namespace

KernelEntries::KernelEntries(const Program& p, const void* const* args, int slot, const RunContext& ctx)
    : p_(p), args_(args, args + p.vars.size()), ctx_(ctx) {
  const std::size_t width = p.dtype == F32 ? 4 : 8;
  const int dv = p.vars[slot].dim;
  unit_.assign(p.n * dv * width, 0);
  for (std::size_t i = 0; i < p.n; ++i) {
    unsigned char* e0 = unit_.data() + i * dv * width;
    if (p.dtype == F32) {
      const float one = 1;
      std::memcpy(e0, &one, sizeof one);
    } else {
      const double one = 1;
      std::memcpy(e0, &one, sizeof one);
    }
  }
  args_[slot] = unit_.data();
  ctx_.ranges = nullptr;
  ctx_.cache = nullptr;
}

void KernelEntries::evaluate(const Program& p, const void* const* args, Ranges& ranges,
                             const std::vector<std::size_t>& offsets, double* out) {
  RunContext ctx = ctx_;
  ctx.ranges = &ranges;
  evaluatePairs(p, args, offsets.data(), out, ctx);
}

void KernelEntries::diagonal(double* out) {
  // K_ii: every j-variable read at row i too, i.e. the same program with its j-variables
  // turned into i-variables and a single (empty) column, so that each row is one pair.
  Program diag = p_;
  for (Variable& v : diag.vars)
    if (v.cat == CAT_J) v.cat = CAT_I;
  diag.n = 1;
  diag.kernel = FusedKernel();
  Ranges r;
  r.rangesI = {0, static_cast<int32_t>(p_.n)};
  r.slicesI = {1};
  r.redrangesJ = {0, 1};
  std::vector<std::size_t> offsets(p_.n + 1);
  for (std::size_t i = 0; i <= p_.n; ++i) offsets[i] = i;
  evaluate(diag, args_.data(), r, offsets, out);
}

void KernelEntries::columns(const std::vector<std::size_t>& cols, double* out) { submatrix(nullptr, cols, out); }

void KernelEntries::submatrix(const std::vector<std::size_t>* rows, const std::vector<std::size_t>& cols,
                              double* out) {
  // The rows' i-variables and the columns' j-variables gathered into short arrays: one
  // pass of tiles over them, not a one-column range per column.
  const std::size_t m = rows ? rows->size() : p_.n, k = cols.size();
  const std::size_t width = p_.dtype == F32 ? 4 : 8;
  Program sub = p_;
  sub.m = m;
  sub.n = k;
  std::vector<std::vector<unsigned char>> gathered(p_.vars.size());
  std::vector<const void*> args = args_;
  for (std::size_t v = 0; v < p_.vars.size(); ++v) {
    const int cat = p_.vars[v].cat;
    if (cat == CAT_PARAM || (cat == CAT_I && !rows)) continue;
    gathered[v] = pickRows(args_[v], static_cast<std::size_t>(p_.vars[v].dim) * width, cat == CAT_J ? cols : *rows);
    args[v] = gathered[v].data();
  }
  Ranges r;
  r.rangesI = {0, static_cast<int32_t>(m)};
  r.slicesI = {1};
  r.redrangesJ = {0, static_cast<int32_t>(k)};
  std::vector<std::size_t> offsets(m + 1);
  for (std::size_t i = 0; i <= m; ++i) offsets[i] = i * k;
  evaluate(sub, args.data(), r, offsets, out);
}

void KernelEntries::blocks(const std::vector<uint32_t>& order, const std::vector<std::size_t>& bounds, double* out) {
  const std::size_t n = p_.n;
  const std::size_t width = p_.dtype == F32 ? 4 : 8;
  // Rows and columns in `order`: every i- and j-variable gathered; the unknown is e_0 in
  // every row already, parameters have one row.
  std::vector<std::vector<unsigned char>> gathered(p_.vars.size());
  std::vector<const void*> args = args_;
  for (std::size_t v = 0; v < p_.vars.size(); ++v) {
    if (p_.vars[v].cat == CAT_PARAM || args_[v] == unit_.data()) continue;
    gathered[v] = pickRows(args_[v], static_cast<std::size_t>(p_.vars[v].dim) * width, order);
    args[v] = gathered[v].data();
  }
  const std::size_t count = bounds.size() - 1;
  Ranges r;
  std::vector<std::size_t> offsets(n + 1, 0);
  for (std::size_t b = 0; b < count; ++b) {
    const int32_t lo = static_cast<int32_t>(bounds[b]), hi = static_cast<int32_t>(bounds[b + 1]);
    r.rangesI.insert(r.rangesI.end(), {lo, hi});
    r.redrangesJ.insert(r.redrangesJ.end(), {lo, hi});
    r.slicesI.push_back(static_cast<int32_t>(b + 1));
    for (int32_t i = lo; i < hi; ++i) offsets[i + 1] = offsets[i] + static_cast<std::size_t>(hi - lo);
  }
  evaluate(p_, args.data(), r, offsets, out);
}

}  // namespace lk
