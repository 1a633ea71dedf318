#include "sim.h"
int sim_raft_main(int argc, char **argv) { (void)argc; (void)argv; return 2; }
void sim_raft_usage(FILE *f) { (void)f; }
