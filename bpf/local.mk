# The eBPF datapath: compiled with clang -target bpf (never with the distribution CFLAGS),
# stripped of DWARF (BTF stays) and embedded in the service through a bpftool skeleton.
BPF_OBJS = bpf/kernelgatekeeper.bpf.o
BPF_SKELS = bpf/kernelgatekeeper.skel.h
noinst_HEADERS += bpf/kg_abi.h bpf/kg_addr.h bpf/kg_sockopt.h
EXTRA_DIST += bpf/kernelgatekeeper.bpf.c
BUILT_SOURCES += $(BPF_SKELS)
CLEANFILES += $(BPF_OBJS) $(BPF_SKELS)

bpf/%.bpf.o: bpf/%.bpf.c bpf/kg_abi.h bpf/kg_addr.h bpf/kg_sockopt.h
	@$(MKDIR_P) bpf
	$(AM_V_CC)$(BPF_CC) $(BPF_CFLAGS) -target bpf $(BPF_CPPFLAGS) -I$(top_srcdir)/bpf \
		-Wall -Werror -c $< -o $@.tmp && $(LLVM_STRIP) -g $@.tmp && mv $@.tmp $@

bpf/%.skel.h: bpf/%.bpf.o
	$(AM_V_GEN)$(BPFTOOL) gen skeleton $< name kg_bpf > $@.tmp && mv $@.tmp $@

# Kept after the skeleton is made: tests/unit/bpf-stack-stores.sh reads the compiled code.
.SECONDARY: $(BPF_OBJS)
TESTS += tests/unit/bpf-stack-stores.sh
dist_check_SCRIPTS += tests/unit/bpf-stack-stores.sh
