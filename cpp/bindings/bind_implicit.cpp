// Bindings of the implicit term (sgd/implicit.hpp).
#include <pybind11/pybind11.h>

#include <cmath>
#include <string>

#include "bindings/checks.hpp"
#include "model/model_arrays.hpp"
#include "scheduler/block_grid.hpp"
#include "sgd/implicit.hpp"

namespace py = pybind11;
using namespace pyanimf;
using bindings::check_range;

namespace {

ImplicitLists lists_of_grid(const BlockGrid& grid, int threads) {
    check_range(threads, 1, 4096, "threads");
    if (grid.emptied()) throw py::value_error("ImplicitLists: seen_sets() took the grid's ratings");
    py::gil_scoped_release release;
    return make_implicit_lists(grid.listed_sets(threads), grid.n_items());
}

bool epoch_end(const ImplicitLists& lists, ModelArrays& model, double step, int threads) {
    check_range(threads, 1, 4096, "threads");
    if (!std::isfinite(step) || step < 0.0) {
        throw py::value_error("step: expected a finite number >= 0, got " + std::to_string(step));
    }
    py::gil_scoped_release release;
    return implicit_epoch_end(lists, model, static_cast<float>(step), threads);
}

}  // namespace

void bind_implicit(py::module_& m) {
    py::class_<ImplicitLists>(m, "ImplicitLists",
                              "Each user's listed anime (scored and unrated) by user and by anime, for the "
                              "implicit term.")
        .def(py::init(&lists_of_grid), py::arg("grid"), py::arg("threads") = 1,
             "The lists of the grid's users: their scored and unrated rows.")
        .def_property_readonly("n_users", [](const ImplicitLists& l) { return l.user_indptr.size() - 1; })
        .def_property_readonly("n_items", [](const ImplicitLists& l) { return l.item_indptr.size() - 1; })
        .def_property_readonly("size", [](const ImplicitLists& l) { return l.user_items.size(); },
                               "Entries over all lists.");

    m.def("implicit_epoch_end", &epoch_end, py::arg("lists"), py::arg("model"), py::arg("step"),
          py::arg("threads") = 1,
          "After an epoch: step every y_j along the mean of its users' gradients, recompute z, move each user row by "
          "the change of its z and clear the gradients. Returns False when a user row became NaN or infinite.");
}
