module lec/bench/standin

go 1.22
