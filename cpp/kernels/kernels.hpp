// SIMD kernels for the two inner operations of SGD matrix factorization:
// the dot product of a user row and an anime row, and the fused update of both
// rows from one rating's error. Each instruction set has its own source file,
// compiled with only its own flags; dispatch.cpp picks one at run time from the
// CPU. The scalar kernels are the reference that the others are tested against.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "sgd/block_loop.hpp"

namespace pyanimf::kernels {

// Dot product of a[0..n) and b[0..n). Any n is valid; the vector kernels
// handle the tail, although factor rows are padded so training never has one.
using DotFn = float (*)(const float* a, const float* b, std::size_t n);

// One SGD step on a user row p and an anime row q, both read before either is
// written:  p <- (1 - lr*reg) * p + lr*g * q,   q <- (1 - lr*reg) * q + lr*g * p.
// g is the gradient scale of the rating: error * d(prediction)/d(dot).
using UpdateFn = void (*)(float* p, float* q, std::size_t n, float g, float lr, float reg);

// SGD over the ratings of one block (sgd/block_loop.hpp) with this set's
// dot product and update inlined.
using BlockFn = BlockSums (*)(const BlockGrid& grid, std::size_t block, ModelArrays& model,
                              const SgdSettings& settings, const DenseLayer& dense);

struct KernelSet {
    const char* name;
    DotFn dot;
    UpdateFn update;
    BlockFn sgd_block;
};

const KernelSet& scalar_kernels();
#ifdef PYANIMF_HAVE_X86_KERNELS
const KernelSet& avx2_kernels();
const KernelSet& avx512_kernels();
#endif

// Names of the kernel sets this CPU can run, best first; "scalar" is always last.
std::vector<std::string> available_kernels();

// The kernel set called `name` ("auto" means the best available one).
// Throws std::invalid_argument for an unknown name or one this CPU cannot run.
const KernelSet& select_kernels(const std::string& name);

}  // namespace pyanimf::kernels
