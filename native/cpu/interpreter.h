// The generic interpreter: the program's registers sorted by what they depend on, each
// instruction run over a tile's lanes (lanes.h), and the tile loop that folds the
// lanes into each row's reduction state (accumulators.h). Included only by the
// per-instruction-set sources, inside their namespace.
#pragma once
#include <algorithm>
#include <memory>
#include <vector>

#include "../program.h"
#include "lanes.h"
#include "parallel.h"
#include "sizes.h"

namespace lk {
namespace LK_ISA_NS {

// What a register depends on (bit 0: the i-row, bit 1: the j-tile).
enum Level : int { PARAM = 0, ROW = 1, TILE = 2, PAIR = 3 };

// The tile's lanes (sizes.h) for this program's registers.
struct Plan {
  std::vector<int> level;
  std::vector<std::size_t> offset;  // in its level's buffer, in components
  std::size_t size[4] = {0, 0, 0, 0};
  std::vector<int> byLevel[4];
  int tile = kMaxTile;
  std::size_t scratch = 0;  // work values per thread (scratchValues)
};

inline bool isView(int op) { return op == OP_LOAD || op == OP_ELEM || op == OP_EXTRACT; }

inline Plan makePlan(const Program& p, std::size_t valueBytes) {
  Plan plan;
  const std::size_t nr = p.code.size();
  plan.level.resize(nr);
  plan.offset.resize(nr);
  for (std::size_t r = 0; r < nr; ++r) {
    const Instruction& in = p.code[r];
    int lv = PARAM;
    if (in.op == OP_LOAD) {
      int cat = p.vars[in.imm].cat;
      lv = cat == CAT_I ? ROW : cat == CAT_J ? TILE : PARAM;
    } else {
      for (int reg : {in.a, in.b, in.c})
        if (reg >= 0) lv |= plan.level[reg];
    }
    plan.level[r] = lv;
    if (!isView(in.op)) {
      plan.offset[r] = plan.size[lv];
      plan.size[lv] += p.regDims[r];
    }
    plan.byLevel[lv].push_back(static_cast<int>(r));
  }
  plan.scratch = scratchValues(p);
  const std::size_t perLane = valueBytes * (plan.size[TILE] + plan.size[PAIR] + 2);
  while (plan.tile > kMinTile && plan.tile * perLane > kTileBytes) plan.tile /= 2;
  return plan;
}

// Everything a thread writes: its registers' storage and views, and its rows' states.
template <typename T, typename Acc>
struct Worker {
  std::vector<Ref<T>> refs;
  std::vector<T> rowBuf, tileBuf, pairBuf, scratch;
  Acc acc;
  Worker(const Plan& plan, std::size_t regs, int blockRows, Acc&& a)
      : refs(regs), rowBuf(plan.size[ROW] * blockRows + 1), tileBuf(plan.size[TILE] * plan.tile + 1),
        pairBuf(plan.size[PAIR] * plan.tile + 1), scratch(plan.scratch), acc(std::move(a)) {}
};

template <typename T>
struct Inputs {
  const Program& p;
  const Plan& plan;
  const T* const* args;
  const int32_t* cancel;      // checked once per tile: a long row stops within a tile
  std::vector<const T*> soa;  // j-variables, component-major (n values per component)
  std::vector<Ref<T>> params;
  std::vector<T> paramBuf;
  std::vector<std::shared_ptr<const void>> keep;  // what soa points into, alive for the call
};

// Sets register r's view, or computes it into `store` (component stride cs).
template <typename T>
void evaluate(const Inputs<T>& in, int r, Ref<T>* refs, T* store, std::size_t cs, int len, std::size_t i,
              std::size_t j0, bool compute, T* scratch) {
  const Program& p = in.p;
  const Instruction& ins = p.code[r];
  switch (ins.op) {
    case OP_LOAD: {
      const Variable& v = p.vars[ins.imm];
      if (v.cat == CAT_I) refs[r] = {in.args[ins.imm] + i * v.dim, 1, false};
      else if (v.cat == CAT_J) refs[r] = {in.soa[ins.imm] + j0, p.n, true};
      else refs[r] = {in.args[ins.imm], 1, false};
      return;
    }
    case OP_ELEM:
    case OP_EXTRACT: {
      const Ref<T>& a = refs[ins.a];
      refs[r] = {a.p + ins.imm * a.cs, a.cs, a.lane};
      return;
    }
  }
  T* out = store + in.plan.offset[r] * cs;
  const bool lane = in.plan.level[r] >= TILE;
  refs[r] = {out, cs, lane};
  if (!compute) return;
  if (ins.op == OP_CONST) {
    const T value = static_cast<T>(p.consts[ins.imm]);
    for (int c = 0; c < p.regDims[r]; ++c)
      for (int t = 0; t < len; ++t) out[c * cs + t] = value;
    return;
  }
  runInstruction(ins, out, cs, p.regDims[r], refs, p.regDims.data(), len, p.consts.data(), scratch);
}

template <typename T, typename Acc>
void runGeneric(const Inputs<T>& in, Worker<T, Acc>& w, const RowBlock& blk) {
  const Program& p = in.p;
  const Plan& plan = in.plan;
  Ref<T>* refs = w.refs.data();
  const std::size_t rowSize = plan.size[ROW];
  const std::size_t i0 = blk.i0;
  auto rowLevel = [&](int r, bool compute) {
    for (int reg : plan.byLevel[ROW])
      evaluate(in, reg, refs, w.rowBuf.data() + r * rowSize, 1, 1, i0 + r, 0, compute, w.scratch.data());
  };
  for (int r = 0; r < blk.rows; ++r) {
    w.acc.reset(r);
    rowLevel(r, true);
  }
  const int tile = plan.tile;
  for (std::size_t k = 0; k < blk.ranges; ++k)
    for (std::size_t j0 = blk.j[k].first; j0 < blk.j[k].second; j0 += tile) {
      if (cancelled(in.cancel)) return;  // parallelFor throws Cancelled
      const int len = static_cast<int>(std::min<std::size_t>(tile, blk.j[k].second - j0));
      for (int reg : plan.byLevel[TILE]) evaluate(in, reg, refs, w.tileBuf.data(), tile, len, 0, j0, true, w.scratch.data());
      for (int r = 0; r < blk.rows; ++r) {
        if (!plan.byLevel[ROW].empty()) rowLevel(r, false);
        for (int reg : plan.byLevel[PAIR]) evaluate(in, reg, refs, w.pairBuf.data(), tile, len, i0 + r, j0, true, w.scratch.data());
        w.acc.fold(r, refs[p.result], p.weights >= 0 ? refs[p.weights] : refs[p.result], len, static_cast<int64_t>(j0));
      }
    }
}


}  // namespace LK_ISA_NS
}  // namespace lk
