# agentbpf — build, test, run. `make V=1` shows the commands.
VERSION   ?= 0.1.0
PREFIX    ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR   ?=
OUTPUT    := .output
CLANG     ?= clang
BPFTOOL   ?= bpftool
CC        ?= gcc
ARCH      := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

CFLAGS    ?= -O2 -g
CFLAGS    += -Wall -Wextra -Wno-unused-parameter -std=gnu11 -D_GNU_SOURCE \
	     -Iinclude -Iuser -Ibpf -I$(OUTPUT) -DAGENTBPF_VERSION='"$(VERSION)"'
BPF_CFLAGS := -O2 -g -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Wno-unused-function \
	     -Iinclude -I$(OUTPUT)
# libbpf is linked statically so the binary does not depend on the
# distribution's libbpf version at run time.
LDLIBS    := -Wl,-Bstatic -lbpf -Wl,-Bdynamic -lelf -lz -lmicrohttpd -lyaml -lpthread -lm

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.bpf.o,$(BPF_SRCS))
SKELS     := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))
# Pure userspace logic, linked into the daemon and into the unit tests.
LIB_SRCS  := user/config.c user/expo.c user/util.c user/lifecycle.c user/procfs.c user/verify.c \
	     user/cgroups.c user/trace.c user/kube.c user/top.c user/busmodel.c \
	     user/httpmodel.c user/tlslib.c user/jsonscan.c user/sse.c user/llmparse.c \
	     user/llmmodel.c
LIB_OBJS  := $(patsubst user/%.c,$(OUTPUT)/%.o,$(LIB_SRCS))
APP_SRCS  := user/main.c user/proc.c user/server.c user/selfstats.c user/check.c \
	     user/family.c user/http.c user/bus.c user/mapread.c user/sockhook.c user/llm.c \
	     user/caps.c
APP_OBJS  := $(patsubst user/%.c,$(OUTPUT)/%.o,$(APP_SRCS)) $(OUTPUT)/webassets.o
# The live view at /: our page and script, and uPlot from npm (web/package-lock.json),
# embedded in the binary.
WEB_FILES := web/index.html web/app.js $(OUTPUT)/web/uplot.js $(OUTPUT)/web/uplot.css
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/%,$(UNIT_SRCS))

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.PHONY: all deps clean test unit run install test-sdks
.SECONDARY: $(BPF_OBJS) $(SKELS)
all: agentbpf

# Installs what building, testing and the demo need from Debian's archive.
deps:
	$(Q)./tests/deps.sh

$(OUTPUT):
	$(Q)mkdir -p $@

$(OUTPUT)/vmlinux.h: | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)test -r $(VMLINUX_BTF) || { echo "kernel BTF not found at $(VMLINUX_BTF): build on a kernel with CONFIG_DEBUG_INFO_BTF=y or set VMLINUX_BTF" >&2; exit 1; }
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && mv $@.tmp $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c include/%.h $(wildcard bpf/*.bpf.h bpf/l7/*.h include/proc.h include/llm.h) $(OUTPUT)/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

$(OUTPUT)/%.o: user/%.c $(wildcard user/*.h include/*.h bpf/l7/*.h) $(SKELS) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUTPUT)/web/uplot.js: web/package.json web/package-lock.json | $(OUTPUT)
	$(call msg,NPM,uplot)
	$(Q)npm ci --prefix web --no-audit --no-fund --loglevel=error >/dev/null
	$(Q)mkdir -p $(OUTPUT)/web && cp web/node_modules/uplot/dist/uPlot.iife.min.js $@

# The official LLM SDKs the end-to-end tests call with (tests/agents/llm).
tests/agents/llm/node_modules/.package-lock.json: tests/agents/llm/package.json tests/agents/llm/package-lock.json
	$(call msg,NPM,openai @anthropic-ai/sdk)
	$(Q)npm ci --prefix tests/agents/llm --no-audit --no-fund --loglevel=error >/dev/null

test-sdks: tests/agents/llm/node_modules/.package-lock.json

$(OUTPUT)/web/uplot.css: $(OUTPUT)/web/uplot.js
	$(Q)cp web/node_modules/uplot/dist/uPlot.min.css $@

# web_<file name>[] and web_<file name>_len for each file, e.g. web_app_js.
$(OUTPUT)/webassets.c: $(WEB_FILES)
	$(call msg,GEN,$@)
	$(Q)for f in $^; do n=web_$$(basename $$f | tr '.-' '__'); \
		printf 'const unsigned char %s[] = {\n' $$n; xxd -i < $$f; \
		printf '};\nconst unsigned int %s_len = sizeof(%s);\n' $$n $$n; done > $@.tmp && mv $@.tmp $@

$(OUTPUT)/webassets.o: $(OUTPUT)/webassets.c
	$(call msg,CC,$@)
	$(Q)$(CC) -c $< -o $@

agentbpf: $(APP_OBJS) $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# The protocol parsers in bpf/l7/ compile on the host too: the unit tests
# drive them under ASan and UBSan, with char signed as in BPF (clang's BPF
# target) whatever the host. Private: the objects it links are the daemon's too.
$(OUTPUT)/test_l7_%: private CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover -fsigned-char
$(OUTPUT)/test_%: tests/unit/test_%.c tests/unit/unit.h tests/unit/busdriver.h tests/unit/httpdriver.h $(LIB_OBJS) $(wildcard bpf/l7/*.h)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Ibpf $(filter %.c %.o,$^) -lcmocka $(LDLIBS) -o $@

# The LLM readers take bytes from the agents' traffic: their test builds them
# with the sanitizers too, from source, beside the other objects.
LLM_SRCS := user/jsonscan.c user/sse.c user/llmparse.c user/llmmodel.c
$(OUTPUT)/test_llm: tests/unit/test_llm.c tests/unit/unit.h $(LLM_SRCS) \
		$(filter-out $(patsubst user/%.c,$(OUTPUT)/%.o,$(LLM_SRCS)),$(LIB_OBJS))
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover $(filter %.c %.o,$^) \
		-lcmocka $(LDLIBS) -o $@

unit: $(UNIT_BINS)
	$(Q)rc=0; for t in $(UNIT_BINS); do $$t || rc=1; done; exit $$rc

# The whole suite: unit tests, then real-kernel end-to-end tests (root).
test: deps
	$(Q)./tests/run.sh

# Daemon plus a demo fleet of agents; Ctrl-C stops everything.
run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)./deploy/demo/run-demo.sh

install: agentbpf
	install -D -m 0755 agentbpf $(DESTDIR)$(PREFIX)/bin/agentbpf
	install -D -m 0644 deploy/agentbpf.yml $(DESTDIR)$(SYSCONFDIR)/agentbpf/agentbpf.yml

clean:
	$(call msg,CLEAN)
	$(Q)rm -rf $(OUTPUT) agentbpf
