module lec/bench/loadgen

go 1.22
