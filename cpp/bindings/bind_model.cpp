// Bindings of model storage, the block grid and the SGD epoch.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>

#include "bindings/checks.hpp"
#include "model/initial_values.hpp"
#include "model/model_arrays.hpp"
#include "scheduler/block_grid.hpp"
#include "sgd/epoch.hpp"
#include "sgd/score_summary.hpp"

namespace py = pybind11;
using namespace pyanimf;
using bindings::check_range;
using bindings::check_same_length;
using bindings::check_vector;

namespace {

// Streams of the seed for the initial user and anime factors.
constexpr std::uint64_t kUserInitStream = 0x1A17;
constexpr std::uint64_t kItemInitStream = 0x1A18;

// A writeable numpy view of a factor matrix that keeps `owner` alive.
py::array factor_view(FactorMatrix& matrix, py::handle owner) {
    const auto row_bytes = static_cast<py::ssize_t>(matrix.stride() * sizeof(float));
    return py::array_t<float>({static_cast<py::ssize_t>(matrix.rows()), static_cast<py::ssize_t>(matrix.dim())},
                              {row_bytes, static_cast<py::ssize_t>(sizeof(float))}, matrix.data(), owner);
}

py::array bias_view(float* data, std::size_t count, py::handle owner) {
    return py::array_t<float>({static_cast<py::ssize_t>(count)}, {static_cast<py::ssize_t>(sizeof(float))}, data,
                              owner);
}

py::array_t<std::int32_t> copy_to_array(const std::vector<std::int32_t>& values) {
    return py::array_t<std::int32_t>(static_cast<py::ssize_t>(values.size()), values.data());
}

OutputFunction parse_output(const std::string& name) {
    if (name == "identity") return OutputFunction::identity;
    if (name == "sigmoid") return OutputFunction::sigmoid;
    throw py::value_error("output: expected 'identity' or 'sigmoid', got '" + name + "'");
}

std::string output_name(OutputFunction output) {
    return output == OutputFunction::sigmoid ? "sigmoid" : "identity";
}

BlockGrid make_grid(const py::array& users, const py::array& items, const py::array& scores,
                    std::int64_t n_users, std::int64_t n_items, int grid_size, std::uint64_t seed, int threads,
                    double shift, double scale, bool release_ids, bool release_scores, bool narrow_indices) {
    // A released column is overwritten with zeros, so it must be writeable.
    check_vector<std::int32_t>(users, "users", release_ids);
    check_vector<std::int32_t>(items, "items", release_ids);
    check_vector<float>(scores, "scores", release_scores);
    check_same_length(users, "users", items, "items");
    check_same_length(users, "users", scores, "scores");
    check_range(n_users, 1, INT32_MAX, "n_users");
    check_range(n_items, 1, INT32_MAX, "n_items");
    check_range(grid_size, 1, 1024, "grid_size");
    check_range(threads, 1, 4096, "threads");
    if (!std::isfinite(shift)) throw py::value_error("shift: expected a finite number, got " + std::to_string(shift));
    if (!std::isfinite(scale) || scale <= 0.0) {
        throw py::value_error("scale: expected a positive finite number, got " + std::to_string(scale));
    }
    const auto* user_data = static_cast<const std::int32_t*>(users.data());
    const auto* item_data = static_cast<const std::int32_t*>(items.data());
    const auto* score_data = static_cast<const float*>(scores.data());
    const auto count = static_cast<std::size_t>(users.size());
    // The input arrays stay referenced by the caller's frame and no Python
    // object is touched while the grid is built.
    py::gil_scoped_release release;
    return BlockGrid(user_data, item_data, score_data, count, static_cast<std::int32_t>(n_users),
                     static_cast<std::int32_t>(n_items), grid_size, seed, threads,
                     ScoreTransform{static_cast<float>(shift), static_cast<float>(scale)},
                     InputRelease{release_ids, release_scores},
                     narrow_indices ? IndexWidth::kAutomatic : IndexWidth::kWide);
}

py::array_t<std::int64_t> copy_counts(const std::vector<std::int64_t>& counts) {
    return py::array_t<std::int64_t>(static_cast<py::ssize_t>(counts.size()), counts.data());
}

py::tuple seen_sets(BlockGrid& grid, const py::array& extra_users, const py::array& extra_items, int threads) {
    check_vector<std::int32_t>(extra_users, "extra_users");
    check_vector<std::int32_t>(extra_items, "extra_items");
    check_same_length(extra_users, "extra_users", extra_items, "extra_items");
    check_range(threads, 1, 4096, "threads");
    if (grid.emptied()) throw py::value_error("seen_sets: an earlier call took this grid's ratings");
    auto seen = std::make_unique<SeenSets>();
    {
        // Reads the grid and the two inputs, all kept alive by this frame.
        py::gil_scoped_release release;
        *seen = grid.seen_sets(static_cast<const std::int32_t*>(extra_users.data()),
                               static_cast<const std::int32_t*>(extra_items.data()),
                               static_cast<std::size_t>(extra_users.size()), threads);
    }
    py::array_t<std::int64_t> indptr(static_cast<py::ssize_t>(seen->indptr.size()), seen->indptr.data());
    // The items go to numpy without a copy: the array's base owns them.
    using Items = ColumnVector<std::int32_t>;
    auto owned = std::make_unique<Items>(std::move(seen->items));
    py::capsule base(owned.get(), [](void* pointer) { delete static_cast<Items*>(pointer); });
    Items* items = owned.release();  // the capsule owns it from here
    py::array_t<std::int32_t> items_array(static_cast<py::ssize_t>(items->size()), items->data(), base);
    return py::make_tuple(indptr, items_array);
}

py::array_t<float> divide_by_user_scale(BlockGrid& grid, double shrinkage, int threads) {
    check_range(threads, 1, 4096, "threads");
    if (!(shrinkage > 0.0) || !std::isfinite(shrinkage)) {
        throw py::value_error("shrinkage: expected a positive finite number, got " + std::to_string(shrinkage));
    }
    if (grid.emptied()) throw py::value_error("divide_by_user_scale: seen_sets() took this grid's ratings");
    if (grid.user_scaled()) {
        throw py::value_error("divide_by_user_scale: the scores were divided by the user scales before");
    }
    std::vector<float> scales;
    {
        // Reads and writes only the grid's memory.
        py::gil_scoped_release release;
        scales = grid.divide_by_user_scale(shrinkage, threads);
    }
    return py::array_t<float>(static_cast<py::ssize_t>(scales.size()), scales.data());
}

py::dict epoch(const BlockGrid& grid, ModelArrays& model, const SgdSettings& settings, double weight,
               double bias, const std::string& kernel, int threads, std::uint64_t seed, std::uint64_t epoch_index) {
    if (static_cast<std::size_t>(grid.n_users()) != model.user_factors.rows() ||
        static_cast<std::size_t>(grid.n_items()) != model.item_factors.rows()) {
        throw py::value_error("grid: expected " + std::to_string(model.user_factors.rows()) + " users and " +
                              std::to_string(model.item_factors.rows()) + " anime (the model's shape), got " +
                              std::to_string(grid.n_users()) + " and " + std::to_string(grid.n_items()));
    }
    check_range(threads, 1, 4096, "threads");
    if (grid.emptied()) throw py::value_error("grid: seen_sets() took its ratings, so it cannot train any more");
    const kernels::KernelSet& chosen = kernels::select_kernels(kernel);
    EpochResult result;
    {
        // The epoch reads and writes only C++ memory (the grid and the model
        // arrays, which Python may view but the caller does not modify during
        // fit), so other Python threads may run meanwhile.
        py::gil_scoped_release release;
        result = run_epoch(grid, model, settings, DenseLayer{weight, bias}, chosen, threads, seed, epoch_index);
    }
    py::dict out;
    out["squared_error"] = result.squared_error;
    out["count"] = result.count;
    out["weight"] = result.dense.weight;
    out["bias"] = result.dense.bias;
    out["finite"] = result.finite;
    out["busy_seconds"] = result.busy_seconds;
    out["wall_seconds"] = result.wall_seconds;
    out["threads"] = result.threads;
    out["kernel"] = std::string(chosen.name);
    return out;
}

void check_shape(std::int64_t n_users, std::int64_t n_items, std::int64_t dim) {
    check_range(n_users, 1, INT32_MAX, "n_users");
    check_range(n_items, 1, INT32_MAX, "n_items");
    check_range(dim, 1, 65536, "dim");
}

void check_uniform_arguments(double half_width, int threads) {
    check_range(threads, 1, 4096, "threads");
    if (!(half_width >= 0.0) || half_width > 1e30) {
        throw py::value_error("half_width: expected a non-negative finite number, got " + std::to_string(half_width));
    }
}

void fill_factors_uniform(ModelArrays& arrays, double half_width, std::uint64_t seed, int threads) {
    fill_uniform(arrays.user_factors, static_cast<float>(half_width), seed, kUserInitStream, threads);
    fill_uniform(arrays.item_factors, static_cast<float>(half_width), seed, kItemInitStream, threads);
}

}  // namespace

void bind_model(py::module_& m) {
    py::class_<ModelArrays>(m, "ModelArrays",
                            "User and anime factors (64-byte aligned, padded rows), biases, user scales and "
                            "global mean.")
        .def(py::init([](std::int64_t n_users, std::int64_t n_items, std::int64_t dim) {
                 check_shape(n_users, n_items, dim);
                 return new ModelArrays(n_users, n_items, dim);
             }),
             py::arg("n_users"), py::arg("n_items"), py::arg("dim"))
        .def_property_readonly("n_users", [](const ModelArrays& a) { return a.user_factors.rows(); })
        .def_property_readonly("n_items", [](const ModelArrays& a) { return a.item_factors.rows(); })
        .def_property_readonly("dim", [](const ModelArrays& a) { return a.user_factors.dim(); })
        .def_property_readonly("stride", [](const ModelArrays& a) { return a.user_factors.stride(); },
                               "Floats between the starts of two rows (dim padded to 16).")
        .def_property_readonly("user_factors", [](py::object self) {
            return factor_view(self.cast<ModelArrays&>().user_factors, self);
        })
        .def_property_readonly("item_factors", [](py::object self) {
            return factor_view(self.cast<ModelArrays&>().item_factors, self);
        })
        .def_property_readonly("user_bias", [](py::object self) {
            auto& a = self.cast<ModelArrays&>();
            return bias_view(a.user_bias.get(), a.user_factors.rows(), self);
        })
        .def_property_readonly("item_bias", [](py::object self) {
            auto& a = self.cast<ModelArrays&>();
            return bias_view(a.item_bias.get(), a.item_factors.rows(), self);
        })
        .def_property_readonly(
            "user_scale",
            [](py::object self) {
                auto& a = self.cast<ModelArrays&>();
                return bias_view(a.user_scale.get(), a.user_factors.rows(), self);
            },
            "Scale s_u of each user (1.0 unless set): predictions are s_u * f(z) on the internal scale.")
        .def_readwrite("global_mean", &ModelArrays::global_mean)
        .def("enable_implicit", &ModelArrays::enable_implicit,
             "Allocate the implicit term's arrays, zeroed; SGD then trains the term (sgd/implicit.hpp).")
        .def("disable_implicit", &ModelArrays::disable_implicit,
             "Free the implicit term's arrays; predictions do not change.")
        .def_property_readonly("implicit", &ModelArrays::implicit, "True once enable_implicit() was called.")
        .def_property_readonly(
            "implicit_items", [](py::object self) { return factor_view(self.cast<ModelArrays&>().implicit_items, self); },
            "The anime rows y_j of the implicit term (0 rows while it is off).")
        .def_property_readonly(
            "implicit_sums", [](py::object self) { return factor_view(self.cast<ModelArrays&>().implicit_sums, self); },
            "Each user's z_u, the weighted sum of the y_j of their list (0 rows while the term is off).")
        .def_property_readonly(
            "implicit_gradients",
            [](py::object self) { return factor_view(self.cast<ModelArrays&>().implicit_gradients, self); },
            "Each user's gradient of z_u summed over the epoch so far (0 rows while the term is off).")
        .def(
            "fill_uniform",
            [](ModelArrays& a, double half_width, std::uint64_t seed, int threads) {
                check_uniform_arguments(half_width, threads);
                py::gil_scoped_release release;
                fill_factors_uniform(a, half_width, seed, threads);
            },
            py::arg("half_width"), py::arg("seed"), py::arg("threads") = 1,
            "Fill both factor matrices with values uniform in [-half_width, half_width), "
            "the same for any thread count.")
        .def_static(
            "uniform",
            [](std::int64_t n_users, std::int64_t n_items, std::int64_t dim, double half_width, std::uint64_t seed,
               int threads) {
                check_shape(n_users, n_items, dim);
                check_uniform_arguments(half_width, threads);
                std::unique_ptr<ModelArrays> arrays;
                {
                    // Touches no Python object. The factors are not zeroed
                    // first, so the threads that fill them take their page faults.
                    py::gil_scoped_release release;
                    arrays = std::make_unique<ModelArrays>(n_users, n_items, dim, false);
                    fill_factors_uniform(*arrays, half_width, seed, threads);
                }
                return arrays;
            },
            py::arg("n_users"), py::arg("n_items"), py::arg("dim"), py::arg("half_width"), py::arg("seed"),
            py::arg("threads") = 1,
            "New arrays with zero biases and factors as fill_uniform sets them, built on up to `threads` threads.");

    py::class_<BlockGrid>(m, "BlockGrid", "Training ratings in block-major order for the conflict-free schedule.")
        .def(py::init(&make_grid), py::arg("users").noconvert(), py::arg("items").noconvert(),
             py::arg("scores").noconvert(), py::arg("n_users"), py::arg("n_items"), py::arg("grid_size"),
             py::arg("seed"), py::arg("threads") = 1, py::arg("shift") = 0.0, py::arg("scale") = 1.0,
             py::arg("release_ids") = false, py::arg("release_scores") = false, py::arg("narrow_indices") = true,
             "Rows with a NaN score are kept apart for seen_sets(); the others are stored as "
             "(score - shift) / scale. release_ids and release_scores let the grid give the memory of "
             "those input columns back while it copies them: they then read as zeros. "
             "narrow_indices=False stores 32-bit local indices even where 16 bits would do (for tests).")
        .def_property_readonly("size", &BlockGrid::size)
        .def_property_readonly("grid_size", &BlockGrid::grid_size)
        .def_property_readonly("n_users", &BlockGrid::n_users)
        .def_property_readonly("n_items", &BlockGrid::n_items)
        .def_property_readonly("narrow", &BlockGrid::narrow, "True when local indices take 16 bits.")
        .def_property_readonly("emptied", &BlockGrid::emptied, "True once seen_sets() took the ratings.")
        .def("user_counts", [](const BlockGrid& grid) { return copy_counts(grid.user_counts()); },
             "Scored ratings of each user, by model row.")
        .def("item_counts", [](const BlockGrid& grid) { return copy_counts(grid.item_counts()); },
             "Scored ratings of each anime, by model row.")
        .def("seen_sets", &seen_sets, py::arg("extra_users").noconvert(), py::arg("extra_items").noconvert(),
             py::arg("threads") = 1,
             "CSR (indptr, anime rows) of every user's scored and unrated rows, then the extra pairs; "
             "takes the grid's ratings, so the grid cannot train afterwards.")
        .def_property_readonly("user_scaled", &BlockGrid::user_scaled,
                               "True once divide_by_user_scale() divided the scores.")
        .def("divide_by_user_scale", &divide_by_user_scale, py::arg("shrinkage"), py::arg("threads") = 1,
             "Compute each user's scale s_u = sqrt((sum_j (r_uj - m_u)^2 + k) / (n_u + k)), with "
             "m_u = sum_j r_uj / (n_u + k) and k = shrinkage, from the stored scores r_uj, and divide "
             "each stored score by it. Returns s_u by model row (float32, 1.0 for users without scores); "
             "the same for any thread count. Call it at most once, before training.")
        .def("user_permutation", [](const BlockGrid& grid) { return copy_to_array(grid.user_permutation()); },
             "New row of each user index given to the constructor.")
        .def("item_permutation", [](const BlockGrid& grid) { return copy_to_array(grid.item_permutation()); },
             "New row of each anime index given to the constructor.")
        .def("block_sizes", [](const BlockGrid& grid) {
            const auto sizes = grid.block_sizes();
            py::array_t<std::int64_t> out({grid.grid_size(), grid.grid_size()});
            auto* data = out.mutable_data();
            for (std::size_t k = 0; k < sizes.size(); ++k) data[k] = static_cast<std::int64_t>(sizes[k]);
            return out;
        });

    py::class_<SgdSettings>(m, "SgdSettings", "Hyper-parameters of one SGD epoch.")
        .def(py::init<>())
        .def_readwrite("learning_rate", &SgdSettings::learning_rate)
        .def_readwrite("regularization", &SgdSettings::regularization)
        .def_readwrite("bias_regularization", &SgdSettings::bias_regularization)
        .def_readwrite("dense_learning_rate", &SgdSettings::dense_learning_rate)
        .def_readwrite("use_biases", &SgdSettings::use_biases)
        .def_property(
            "output", [](const SgdSettings& s) { return output_name(s.output); },
            [](SgdSettings& s, const std::string& name) { s.output = parse_output(name); });

    m.def(
        "score_summary",
        [](const py::array& scores, int threads) {
            check_vector<float>(scores, "scores");
            check_range(threads, 1, 4096, "threads");
            const auto* data = static_cast<const float*>(scores.data());
            const auto count = static_cast<std::size_t>(scores.size());
            ScoreSummary summary;
            {
                py::gil_scoped_release release;
                summary = summarise_scores(data, count, threads);
            }
            py::dict out;
            out["count"] = summary.count;
            out["mean"] = summary.mean;
            out["std"] = summary.std_dev;
            out["low"] = summary.low;
            out["high"] = summary.high;
            return out;
        },
        py::arg("scores").noconvert(), py::arg("threads") = 1,
        "Count, mean, population standard deviation, lowest and highest of the scores that are not NaN.");

    m.def("run_epoch", &epoch, py::arg("grid"), py::arg("model"), py::arg("settings"), py::arg("weight"),
          py::arg("bias"), py::arg("kernel") = "auto", py::arg("threads") = 1, py::arg("seed") = 0,
          py::arg("epoch") = 0,
          "Run one SGD epoch in place on `model`; returns the epoch's statistics and the new output layer.");
}
