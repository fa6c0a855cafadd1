// Checks cpu/exp2_avx512.h against maths/exp.h's exp2Neg bit for bit (both its forms, the
// Positive one where t >= 0 or NaN): every float, and double arguments drawn over and
// past the whole range, the edges and the special values. NaN must stay NaN (its sign
// may differ: the vector form works on -t). Prints the number of values checked and the
// mismatches (the first few described); exits 1 on any.
// Built and run by test/exp.avx512.test.ts.
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "cpu/exp2_avx512.h"

using lk::exp2Neg;
using lk::avx512::Avx512;
using lk::avx512::exp2NegNegated;

template <typename T, typename Bits>
bool same(T got, T want) {
  if (std::isnan(want)) return std::isnan(got);
  Bits a, b;
  std::memcpy(&a, &got, sizeof a);
  std::memcpy(&b, &want, sizeof b);
  return a == b;
}

template <typename T, typename Bits>
uint64_t check(const T* t, std::size_t count, std::atomic<int>& shown) {
  constexpr int L = Avx512<T>::kLanes;
  uint64_t bad = 0;
  alignas(64) T neg[L], got[L], positive[L];
  for (std::size_t i = 0; i < count; i += L) {
    for (int l = 0; l < L; ++l) neg[l] = -t[i + l];
    Avx512<T>::store(got, exp2NegNegated<T, false>(Avx512<T>::load(neg)));
    Avx512<T>::store(positive, exp2NegNegated<T, true>(Avx512<T>::load(neg)));
    for (int l = 0; l < L; ++l) {
      const T want = exp2Neg(t[i + l]);
      // The Positive form is for t >= 0 or NaN only.
      const bool ok = same<T, Bits>(got[l], want) && (t[i + l] < 0 || same<T, Bits>(positive[l], want));
      if (ok) continue;
      ++bad;
      if (shown++ < 8)
        std::printf("mismatch: t = %.17g: %.17g (Positive form %.17g), exp2Neg %.17g\n", double(t[i + l]),
                    double(got[l]), double(positive[l]), double(want));
    }
  }
  return bad;
}

int main() {
  std::atomic<int> shown{0};
  uint64_t bad = 0, checked = 0;
  // Every float, 2^16 bit patterns at a time, on the OpenMP threads.
#pragma omp parallel for reduction(+ : bad, checked) schedule(dynamic)
  for (int64_t hi = 0; hi < 65536; ++hi) {
    alignas(64) float t[65536];
    for (uint32_t lo = 0; lo < 65536; ++lo) {
      const uint32_t bits = static_cast<uint32_t>(hi) << 16 | lo;
      std::memcpy(&t[lo], &bits, sizeof bits);
    }
    bad += check<float, uint32_t>(t, 65536, shown);
    checked += 65536;
  }
  // Doubles: uniform over and past the range, near the flush and overflow edges, on [-1, 1],
  // random bit patterns, and the special values.
  std::mt19937_64 rng(20261204);
  std::vector<double> t;
  std::uniform_real_distribution<double> wide(-1200, 1200), unit(-1, 1), edge(-1, 1);
  for (int k = 0; k < 4000000; ++k) t.push_back(wide(rng));
  for (int k = 0; k < 2000000; ++k) t.push_back(unit(rng));
  for (double c : {-1024.25, -1023.5, -1022.5, 1021.5, 1022.0, 1022.5, 1100.0, 125.5, 126.0})
    for (int k = 0; k < 250000; ++k) t.push_back(c + edge(rng) * (k % 2 ? 1e-9 : 1.0));
  for (int k = 0; k < 2000000; ++k) {
    const uint64_t bits = rng();
    double v;
    std::memcpy(&v, &bits, sizeof v);
    t.push_back(v);
  }
  for (double v : std::initializer_list<double>{0.0, -0.0, HUGE_VAL, -HUGE_VAL, std::nan(""), -std::nan(""), 1e-300, -1e-300, 4.9e-324, -4.9e-324,
                   1.7976931348623157e308, -1.7976931348623157e308})
    t.push_back(v);
  while (t.size() % Avx512<double>::kLanes) t.push_back(0.5);
  bad += check<double, uint64_t>(t.data(), t.size(), shown);
  checked += t.size();
  std::printf("%" PRIu64 " checked, %" PRIu64 " mismatches\n", checked, bad);
  return bad ? 1 : 0;
}
