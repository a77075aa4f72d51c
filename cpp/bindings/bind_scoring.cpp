// Bindings of batch prediction, top-N scoring, kernel selection and the
// kernel test hooks.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "bindings/checks.hpp"
#include "common/worker_errors.hpp"
#include "kernels/kernels.hpp"
#include "scoring/predict.hpp"
#include "scoring/top_n.hpp"

namespace py = pybind11;
using namespace pyanimf;
using bindings::check_range;
using bindings::check_same_length;
using bindings::check_vector;

namespace {

void check_indices(const py::array& indices, std::size_t limit, const char* name) {
    const auto* data = static_cast<const std::int32_t*>(indices.data());
    for (py::ssize_t k = 0; k < indices.size(); ++k) {
        if (data[k] < 0 || static_cast<std::size_t>(data[k]) >= limit) {
            throw py::value_error(std::string(name) + ": expected indices in [0, " + std::to_string(limit) +
                                  "), got " + std::to_string(data[k]) + " at position " + std::to_string(k));
        }
    }
}

py::tuple to_arrays(const std::vector<ScoredIndex>& best) {
    py::array_t<std::int32_t> indices(static_cast<py::ssize_t>(best.size()));
    py::array_t<float> scores(static_cast<py::ssize_t>(best.size()));
    for (std::size_t k = 0; k < best.size(); ++k) {
        indices.mutable_data()[k] = best[k].index;
        scores.mutable_data()[k] = best[k].score;
    }
    return py::make_tuple(indices, scores);
}

py::array predict(const ModelArrays& model, const SgdSettings& settings, double weight, double bias,
                  const py::array& users, const py::array& items, const std::string& kernel, int threads) {
    check_vector<std::int32_t>(users, "users");
    check_vector<std::int32_t>(items, "items");
    check_same_length(users, "users", items, "items");
    check_indices(users, model.user_factors.rows(), "users");
    check_indices(items, model.item_factors.rows(), "items");
    check_range(threads, 1, 4096, "threads");
    const kernels::KernelSet& chosen = kernels::select_kernels(kernel);
    py::array_t<float> out(users.size());
    float* out_data = out.mutable_data();
    const auto* user_data = static_cast<const std::int32_t*>(users.data());
    const auto* item_data = static_cast<const std::int32_t*>(items.data());
    const auto count = static_cast<std::size_t>(users.size());
    // Reads only the model and the input arrays, writes only `out`, all kept
    // alive by this frame; no Python object is touched.
    py::gil_scoped_release release;
    predict_pairs(model, settings, DenseLayer{weight, bias}, chosen, user_data, item_data, count, out_data, threads);
    return out;
}

py::tuple top_n(const ModelArrays& model, const SgdSettings& settings, double weight, double bias,
                std::int64_t user, const py::array& exclude, std::int64_t n, const std::string& kernel) {
    check_range(user, 0, static_cast<long long>(model.user_factors.rows()) - 1, "user");
    check_vector<std::int32_t>(exclude, "exclude");
    check_range(n, 0, INT32_MAX, "n");
    const kernels::KernelSet& chosen = kernels::select_kernels(kernel);
    const auto* exclude_data = static_cast<const std::int32_t*>(exclude.data());
    const auto exclude_count = static_cast<std::size_t>(exclude.size());
    std::vector<ScoredIndex> best;
    {
        // Reads only the model and `exclude`, both kept alive by this frame.
        py::gil_scoped_release release;
        best = top_n_items(model, settings, DenseLayer{weight, bias}, chosen, static_cast<std::int32_t>(user),
                           exclude_data, exclude_count, static_cast<std::size_t>(n));
    }
    return to_arrays(best);
}

py::tuple similar(const ModelArrays& model, const std::string& side, std::int64_t query, std::int64_t n,
                  const std::string& kernel) {
    if (side != "users" && side != "items") {
        throw py::value_error("side: expected 'users' or 'items', got '" + side + "'");
    }
    const FactorMatrix& matrix = side == "users" ? model.user_factors : model.item_factors;
    check_range(query, 0, static_cast<long long>(matrix.rows()) - 1, "query");
    check_range(n, 0, INT32_MAX, "n");
    const kernels::KernelSet& chosen = kernels::select_kernels(kernel);
    std::vector<ScoredIndex> best;
    {
        // Reads only the model's factors.
        py::gil_scoped_release release;
        best = most_similar_rows(matrix, chosen, static_cast<std::int32_t>(query), static_cast<std::size_t>(n));
    }
    return to_arrays(best);
}

py::tuple top_n_batch(const py::array& dots, double weight, const py::array& user_offset,
                      const py::array& item_offset, const py::array& seen_indptr, const py::array& seen_items,
                      std::int64_t n, int threads) {
    if (!dots.dtype().is(py::dtype::of<float>()) || dots.ndim() != 2 || dots.strides(1) != sizeof(float) ||
        dots.strides(0) % static_cast<py::ssize_t>(sizeof(float)) != 0) {
        throw py::type_error("dots: expected a 2-D float32 array with contiguous rows, got dtype " +
                             py::str(dots.dtype()).cast<std::string>() + " with " + std::to_string(dots.ndim()) +
                             " dimensions");
    }
    const auto rows = static_cast<std::size_t>(dots.shape(0));
    const auto n_items = static_cast<std::size_t>(dots.shape(1));
    check_vector<float>(user_offset, "user_offset");
    check_vector<float>(item_offset, "item_offset");
    check_vector<std::int64_t>(seen_indptr, "seen_indptr");
    check_vector<std::int32_t>(seen_items, "seen_items");
    if (static_cast<std::size_t>(user_offset.size()) != rows || static_cast<std::size_t>(seen_indptr.size()) != rows + 1) {
        throw py::value_error("user_offset, seen_indptr: expected " + std::to_string(rows) + " and " +
                              std::to_string(rows + 1) + " entries (rows of dots), got " +
                              std::to_string(user_offset.size()) + " and " + std::to_string(seen_indptr.size()));
    }
    if (static_cast<std::size_t>(item_offset.size()) != n_items) {
        throw py::value_error("item_offset: expected " + std::to_string(n_items) + " entries (columns of dots), got " +
                              std::to_string(item_offset.size()));
    }
    const auto* indptr = static_cast<const std::int64_t*>(seen_indptr.data());
    for (std::size_t r = 0; r < rows; ++r) {
        if (indptr[r] < 0 || indptr[r + 1] < indptr[r] || indptr[r + 1] > seen_items.size()) {
            throw py::value_error("seen_indptr: expected non-decreasing offsets within seen_items, got " +
                                  std::to_string(indptr[r]) + ", " + std::to_string(indptr[r + 1]) + " at row " +
                                  std::to_string(r));
        }
    }
    check_indices(seen_items, n_items, "seen_items");
    check_range(n, 0, static_cast<long long>(n_items), "n");
    check_range(threads, 1, 4096, "threads");

    const auto count = static_cast<std::size_t>(n);
    py::array_t<std::int32_t> out_items({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(count)});
    py::array_t<float> out_scores({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(count)});
    const auto* dot_data = static_cast<const float*>(dots.data());
    const auto row_stride = static_cast<std::size_t>(dots.strides(0)) / sizeof(float);
    const auto* user_data = static_cast<const float*>(user_offset.data());
    const auto* item_data = static_cast<const float*>(item_offset.data());
    const auto* seen_data = static_cast<const std::int32_t*>(seen_items.data());
    std::int32_t* items_out = out_items.mutable_data();
    float* scores_out = out_scores.mutable_data();
    {
        // Reads only the input arrays and writes only the two outputs, all
        // kept alive by this frame.
        py::gil_scoped_release release;
        batch_top_n(dot_data, rows, n_items, row_stride, static_cast<float>(weight), user_data, item_data, indptr,
                    seen_data, count, items_out, scores_out, threads);
    }
    return py::make_tuple(out_items, out_scores);
}

// Test hooks: the raw kernels on 1-D float32 arrays of any length.
float kernel_dot(const std::string& kernel, const py::array& a, const py::array& b) {
    check_vector<float>(a, "a");
    check_vector<float>(b, "b");
    check_same_length(a, "a", b, "b");
    return kernels::select_kernels(kernel).dot(static_cast<const float*>(a.data()),
                                               static_cast<const float*>(b.data()), a.size());
}

void kernel_update(const std::string& kernel, py::array& p, py::array& q, float g, float lr, float reg) {
    check_vector<float>(p, "p", true);
    check_vector<float>(q, "q", true);
    check_same_length(p, "p", q, "q");
    kernels::select_kernels(kernel).update(static_cast<float*>(p.mutable_data()),
                                           static_cast<float*>(q.mutable_data()), p.size(), g, lr, reg);
}

// Test hook: a parallel loop whose iteration `failing` throws, to check that
// a worker's exception reaches Python through WorkerErrors.
void raise_in_worker(int threads, int failing) {
    WorkerErrors errors;
    {
        py::gil_scoped_release release;
#pragma omp parallel for num_threads(threads)
        for (int k = 0; k < 64; ++k) {
            try {
                if (k == failing) throw std::runtime_error("worker " + std::to_string(k) + " failed on purpose");
            } catch (...) {
                errors.capture();
            }
        }
    }
    errors.rethrow_if_any();
}

}  // namespace

void bind_scoring(py::module_& m) {
    m.def("predict", &predict, py::arg("model"), py::arg("settings"), py::arg("weight"), py::arg("bias"),
          py::arg("users").noconvert(), py::arg("items").noconvert(), py::arg("kernel") = "auto",
          py::arg("threads") = 1, "Predictions for index pairs, on the model's internal scale.");
    m.def("top_n_items", &top_n, py::arg("model"), py::arg("settings"), py::arg("weight"), py::arg("bias"),
          py::arg("user"), py::arg("exclude").noconvert(), py::arg("n"), py::arg("kernel") = "auto",
          "The n best anime indices for one user and their predictions, best first.");
    m.def("top_n_batch", &top_n_batch, py::arg("dots").noconvert(), py::arg("weight"),
          py::arg("user_offset").noconvert(), py::arg("item_offset").noconvert(),
          py::arg("seen_indptr").noconvert(), py::arg("seen_items").noconvert(), py::arg("n"),
          py::arg("threads") = 1,
          "Best n anime per row of precomputed dot products, skipping each row's seen anime.");
    m.def("most_similar", &similar, py::arg("model"), py::arg("side"), py::arg("query"), py::arg("n"),
          py::arg("kernel") = "auto", "The n rows most similar to `query` by cosine, the query excluded.");

    m.def("available_kernels", &kernels::available_kernels,
          "Kernel sets this CPU can run, best first; 'auto' picks the first.");
    m.def("raise_in_worker", &raise_in_worker, py::arg("threads"), py::arg("failing"));
    m.def("kernel_dot", &kernel_dot, py::arg("kernel"), py::arg("a").noconvert(), py::arg("b").noconvert());
    m.def("kernel_update", &kernel_update, py::arg("kernel"), py::arg("p").noconvert(), py::arg("q").noconvert(),
          py::arg("g"), py::arg("lr"), py::arg("reg"));

#ifdef _OPENMP
    m.attr("openmp_enabled") = true;
    m.attr("openmp_version") = _OPENMP;
#else
    m.attr("openmp_enabled") = false;
    m.attr("openmp_version") = 0;
#endif
}
