// Precompiled for every dataset build (the ap_types headers dominate compile time).
#include <ap_fixed.h>
#include <ap_int.h>
#include <hls_stream.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
