// llm2hls_numerics.h -- C++ counterparts of llm2hls/numerics.py used by every generated stage.
//
// A fixed-point value is held by the golden model as its raw two's-complement integer. Weights
// and other constants are stored in weights/*.h as plain C integers holding those raw values
// (g++ compiles plain integer tables instantly, ap_int initializers slowly) and read back into
// their ap_fixed / ap_int type with from_raw. Everything else is ordinary ap_fixed arithmetic:
// sums and products are exact, and assigning to a narrower type rounds and saturates exactly as
// numerics.convert does (AP_RND = round half up, AP_SAT = saturate).
#ifndef LLM2HLS_NUMERICS_H
#define LLM2HLS_NUMERICS_H

#include "ap_fixed.h"
#include "ap_int.h"

namespace llm2hls {

// The value of type T whose raw bits are the low T::width bits of `raw`.
template <typename T>
inline T from_raw(long long raw) {
#pragma HLS INLINE
    T v;
    v.range(T::width - 1, 0) = ap_int<T::width>(raw).range(T::width - 1, 0);
    return v;
}

// The raw integer of a value of type T; RAW is ap_int<T::width> or ap_uint<T::width>.
template <typename RAW, typename T>
inline long long to_raw(const T& v) {
    RAW r;
    r.range(T::width - 1, 0) = v.range(T::width - 1, 0);
    return (long long)r;
}

}  // namespace llm2hls

#endif  // LLM2HLS_NUMERICS_H
