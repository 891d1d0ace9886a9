/* dkvm completion bash|zsh|fish: completion scripts generated from the same
 * option tables (struct dk_cmd_spec) that drive getopt_long and --help. */
#include "cli/cli.h"
#include "opencore/opencore.h"
#include "smbios/macos.h"
#include "smbios/smbios.h"
#include "util/mem.h"

#include <string.h>

static const struct dk_opt completion_opts[] = {
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_completion = {
	.head = "usage: dkvm completion bash|zsh|fish\n"
		"\n"
		"Print the shell completion script for bash, zsh or fish, generated from dkvm's own\n"
		"option tables: commands, options, choices (--accel, --model, --macos...), VM names\n"
		"(the bundles in $XDG_DATA_HOME/dkvm or --dir), PCI addresses for --device, files.\n"
		"The build installs them; to try one: source <(dkvm completion bash).\n",
	.opts = completion_opts,
	.tail = "Examples:\n"
		"  dkvm completion bash > ~/.local/share/bash-completion/completions/dkvm\n"
		"  dkvm completion fish > ~/.config/fish/completions/dkvm.fish\n"
		"\n"
		"Exit status: 0 success, 2 usage error.\n",
	.operands = "bash zsh fish",
};

/* Global options (main.c), completed everywhere. */
static const char globals[] = "--json --sysroot --root -v --verbose -q --quiet --no-color --help --version";

static char *cmd_name(const struct dk_cmd *c)
{
	return c->verb ? dk_asprintf("%s %s", c->noun, c->verb) : dk_strdup(c->noun);
}

/* A completion kind with @model / @macos / @gpu expanded to the names (words for
 * the shell, single-quote safe: no quotes in these tables). */
static char *expand(const char *kind)
{
	struct dk_buf b = {0};
	if (kind && !strcmp(kind, DK_C_MODEL)) {
		for (int i = 0; i < dk_mac_model_count; i++)
			dk_buf_printf(&b, "%s%s", i ? " " : "", dk_mac_models[i].name);
	} else if (kind && !strcmp(kind, DK_C_MACOS)) {
		for (int i = 0; i < dk_macos_count; i++)
			dk_buf_printf(&b, "%s%s", i ? " " : "", dk_macos_table[i].name);
	} else if (kind && !strcmp(kind, DK_C_GPU)) {
		for (int i = 0; dk_gpu_names[i]; i++)
			dk_buf_printf(&b, "%s%s", i ? " " : "", dk_gpu_names[i]);
	} else {
		dk_buf_puts(&b, kind ? kind : "");
	}
	char *r = dk_strdup(b.data ? b.data : "");
	dk_buf_free(&b);
	return r;
}

/* Print s single-quoted for sh/zsh/fish (a quote inside is closed, escaped, reopened;
 * fish reads \' inside single quotes). */
static void squote(const char *s, bool fish)
{
	putchar('\'');
	for (; *s; s++) {
		if (*s == '\'')
			fputs(fish ? "\\'" : "'\\''", stdout);
		else if (fish && *s == '\\')
			fputs("\\\\", stdout);
		else
			putchar(*s);
	}
	putchar('\'');
}

static bool listed(const struct dk_opt *o)
{
	return o->help || !strcmp(o->name, "help");
}

static void nouns(struct dk_buf *all, struct dk_buf *single)
{
	for (size_t i = 0; i < dk_n_commands; i++) {
		const struct dk_cmd *c = &dk_commands[i];
		bool seen = false;
		for (size_t k = 0; k < i; k++)
			seen |= !strcmp(dk_commands[k].noun, c->noun);
		if (seen)
			continue;
		dk_buf_printf(all, "%s%s", all->len ? " " : "", c->noun);
		if (!c->verb)
			dk_buf_printf(single, "%s%s", single->len ? " " : "", c->noun);
	}
}

/* The data both bash and zsh read: the same case statements. */
static void sh_data(void)
{
	struct dk_buf all = {0}, single = {0};
	nouns(&all, &single);
	printf("_dkvm_nouns='%s'\n_dkvm_single='%s'\n_dkvm_globals='%s'\n\n", all.data, single.data, globals);
	dk_buf_free(&all);
	dk_buf_free(&single);

	puts("# noun -> its subcommands\n_dkvm_verbs() {\n    case $1 in");
	for (size_t i = 0; i < dk_n_commands; i++) {
		const struct dk_cmd *c = &dk_commands[i];
		if (!c->verb || (i > 0 && !strcmp(dk_commands[i - 1].noun, c->noun)))
			continue;
		printf("    %s) echo '", c->noun);
		for (size_t k = i; k < dk_n_commands && !strcmp(dk_commands[k].noun, c->noun); k++)
			printf("%s%s", k > i ? " " : "", dk_commands[k].verb);
		puts("';;");
	}
	puts("    esac\n}\n");

	puts("# command -> its options\n_dkvm_opts() {\n    case $1 in");
	for (size_t i = 0; i < dk_n_commands; i++) {
		char *name = cmd_name(&dk_commands[i]);
		printf("    '%s') echo '", name);
		bool first = true;
		for (const struct dk_opt *o = dk_commands[i].spec->opts; o->name; o++) {
			if (!listed(o) || (o->flags & DK_OPT_GLOBAL))
				continue;
			printf("%s--%s", first ? "" : " ", o->name);
			if (o->flags & DK_OPT_SHORT)
				printf(" -%c", o->val);
			first = false;
		}
		if (first)
			fputs("--help -h", stdout);
		puts("';;");
		free(name);
	}
	puts("    esac\n}\n");

	puts("# 'command option' -> what completes its argument (@file, @dir, @vm, @bdf or words);\n"
	     "# fails when the option takes no argument\n_dkvm_arg() {\n    case $1 in");
	for (size_t i = 0; i < dk_n_commands; i++) {
		char *name = cmd_name(&dk_commands[i]);
		for (const struct dk_opt *o = dk_commands[i].spec->opts; o->name; o++) {
			if (!o->arg || (o->flags & DK_OPT_GLOBAL))
				continue;
			char *w = expand(o->complete);
			printf("    '%s --%s'", name, o->name);
			if (o->flags & DK_OPT_SHORT)
				printf("|'%s -%c'", name, o->val);
			printf(") echo ");
			squote(w, false);
			puts(";;");
			free(w);
		}
		free(name);
	}
	puts("    *' --sysroot'|*' --root'|--sysroot|--root) echo @dir;;\n    *) return 1;;\n    esac\n}\n");

	puts("# command -> what completes its operands\n_dkvm_operands() {\n    case $1 in");
	for (size_t i = 0; i < dk_n_commands; i++) {
		const char *k = dk_commands[i].spec->operands;
		if (!k)
			continue;
		char *name = cmd_name(&dk_commands[i]), *w = expand(k);
		printf("    '%s') echo ", name);
		squote(w, false);
		puts(";;");
		free(name);
		free(w);
	}
	puts("    esac\n}\n");
}

/* Finds the command on the line (bash: COMP_WORDS/COMP_CWORD from 0; zsh:
 * words/CURRENT from 1): sets noun and cmd. */
static const char find_cmd[] =
	"    local w\n"
	"    for ((i = FIRST; i < LAST; i++)); do\n"
	"        w=${WORDS[i]}\n"
	"        case $w in\n"
	"        --sysroot|--root) ((i++)); continue;;\n"
	"        -*) continue;;\n"
	"        esac\n"
	"        if [[ -z $noun ]]; then\n"
	"            noun=$w\n"
	"            [[ \" $_dkvm_single \" == *\" $w \"* ]] && { cmd=$w; break; }\n"
	"        else\n"
	"            cmd=\"$noun $w\"\n"
	"            break\n"
	"        fi\n"
	"    done\n";

static void print_find_cmd(const char *first, const char *last, const char *words)
{
	char *s = dk_strdup(find_cmd);
	const char *from[] = {"FIRST", "LAST", "WORDS"}, *to[] = {first, last, words};
	for (int k = 0; k < 3; k++) {
		size_t at = 0;
		char *p;
		while ((p = strstr(s + at, from[k]))) {
			size_t off = (size_t)(p - s);
			char *n = dk_asprintf("%.*s%s%s", (int)off, s, to[k], p + strlen(from[k]));
			free(s);
			s = n;
			at = off + strlen(to[k]); /* "WORDS" -> "COMP_WORDS" is not replaced again */
		}
	}
	fputs(s, stdout);
	free(s);
}

static void bash(void)
{
	puts("# bash completion for dkvm: generated by 'dkvm completion bash' from dkvm's option tables.\n");
	sh_data();
	puts("_dkvm_vms() {\n"
	     "    local dir=\"${XDG_DATA_HOME:-$HOME/.local/share}/dkvm\" i f\n"
	     "    for ((i = 1; i < ${#COMP_WORDS[@]}; i++)); do\n"
	     "        [[ ${COMP_WORDS[i]} == --dir ]] && dir=${COMP_WORDS[i+1]}\n"
	     "        [[ ${COMP_WORDS[i]} == --dir=* ]] && dir=${COMP_WORDS[i]#--dir=}\n"
	     "    done\n"
	     "    for f in \"$dir\"/*/manifest.json; do\n"
	     "        [[ -e $f ]] || continue\n"
	     "        f=${f%/manifest.json}\n"
	     "        printf '%s\\n' \"${f##*/}\"\n"
	     "    done\n"
	     "}\n"
	     "\n"
	     "_dkvm_bdfs() {\n"
	     "    local f\n"
	     "    for f in /sys/bus/pci/devices/*; do\n"
	     "        [[ -e $f ]] && printf '%s\\n' \"${f##*/}\"\n"
	     "    done\n"
	     "}\n"
	     "\n"
	     "# _dkvm_add KIND CUR: COMPREPLY from a kind (@file, @dir, @vm, @bdf or words)\n"
	     "_dkvm_add() {\n"
	     "    case $1 in\n"
	     "    @file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- \"$2\");;\n"
	     "    @dir) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- \"$2\");;\n"
	     "    @vm) mapfile -t COMPREPLY < <(compgen -W \"$(_dkvm_vms)\" -- \"$2\");;\n"
	     "    @bdf) mapfile -t COMPREPLY < <(compgen -W \"$(_dkvm_bdfs)\" -- \"$2\");;\n"
	     "    '') COMPREPLY=();;\n"
	     "    *) mapfile -t COMPREPLY < <(compgen -W \"$1\" -- \"$2\");;\n"
	     "    esac\n"
	     "}\n"
	     "\n"
	     "_dkvm() {\n"
	     "    local cur=${COMP_WORDS[COMP_CWORD]} prev= noun= cmd= kind i\n"
	     "    COMPREPLY=()\n"
	     "    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD-1]}\n"
	     "    # --opt=value: bash splits at '='\n"
	     "    if [[ $prev == = ]] && ((COMP_CWORD > 1)); then\n"
	     "        prev=${COMP_WORDS[COMP_CWORD-2]}\n"
	     "    elif [[ $cur == = ]]; then\n"
	     "        prev=$prev cur=\n"
	     "    fi");
	print_find_cmd("1", "COMP_CWORD", "COMP_WORDS");
	puts("    if [[ $prev == -* ]] && kind=$(_dkvm_arg \"${cmd:+$cmd }$prev\"); then\n"
	     "        _dkvm_add \"$kind\" \"$cur\"\n"
	     "    elif [[ -z $noun ]]; then\n"
	     "        if [[ $cur == -* ]]; then _dkvm_add \"$_dkvm_globals\" \"$cur\"; else _dkvm_add \"$_dkvm_nouns\" \"$cur\"; fi\n"
	     "    elif [[ -z $cmd ]]; then\n"
	     "        _dkvm_add \"$(_dkvm_verbs \"$noun\")\" \"$cur\"\n"
	     "    elif [[ $cur == -* ]]; then\n"
	     "        _dkvm_add \"$(_dkvm_opts \"$cmd\") $_dkvm_globals\" \"$cur\"\n"
	     "    else\n"
	     "        _dkvm_add \"$(_dkvm_operands \"$cmd\")\" \"$cur\"\n"
	     "    fi\n"
	     "    return 0\n"
	     "}\n"
	     "\n"
	     "complete -F _dkvm dkvm");
}

static void zsh(void)
{
	puts("#compdef dkvm\n# zsh completion for dkvm: generated by 'dkvm completion zsh' from dkvm's option tables.\n");
	sh_data();
	puts("_dkvm_vms() {\n"
	     "    local dir=${XDG_DATA_HOME:-$HOME/.local/share}/dkvm i f\n"
	     "    for ((i = 2; i <= $#words; i++)); do\n"
	     "        [[ ${words[i]} == --dir ]] && dir=${words[i+1]}\n"
	     "        [[ ${words[i]} == --dir=* ]] && dir=${words[i]#--dir=}\n"
	     "    done\n"
	     "    for f in $dir/*/manifest.json(N); do print -r -- ${${f:h}:t}; done\n"
	     "}\n"
	     "\n"
	     "_dkvm_bdfs() {\n"
	     "    local f\n"
	     "    for f in /sys/bus/pci/devices/*(N); do print -r -- ${f:t}; done\n"
	     "}\n"
	     "\n"
	     "_dkvm_add() {\n"
	     "    case $1 in\n"
	     "    @file) _files;;\n"
	     "    @dir) _files -/;;\n"
	     "    @vm) compadd -- ${(f)\"$(_dkvm_vms)\"};;\n"
	     "    @bdf) compadd -- ${(f)\"$(_dkvm_bdfs)\"};;\n"
	     "    '') ;;\n"
	     "    *) compadd -- ${=1};;\n"
	     "    esac\n"
	     "}\n"
	     "\n"
	     "_dkvm() {\n"
	     "    local cur=${words[CURRENT]} prev=${words[CURRENT-1]} noun= cmd= kind i");
	print_find_cmd("2", "CURRENT", "words");
	puts("    if [[ $cur == --*=* ]]; then\n"
	     "        kind=$(_dkvm_arg \"${cmd:+$cmd }${cur%%=*}\") && { compset -P '*='; _dkvm_add \"$kind\"; }\n"
	     "    elif [[ $prev == -* ]] && kind=$(_dkvm_arg \"${cmd:+$cmd }$prev\"); then\n"
	     "        _dkvm_add \"$kind\"\n"
	     "    elif [[ -z $noun ]]; then\n"
	     "        if [[ $cur == -* ]]; then _dkvm_add \"$_dkvm_globals\"; else _dkvm_add \"$_dkvm_nouns\"; fi\n"
	     "    elif [[ -z $cmd ]]; then\n"
	     "        _dkvm_add \"$(_dkvm_verbs $noun)\"\n"
	     "    elif [[ $cur == -* ]]; then\n"
	     "        _dkvm_add \"$(_dkvm_opts $cmd) $_dkvm_globals\"\n"
	     "    else\n"
	     "        _dkvm_add \"$(_dkvm_operands $cmd)\"\n"
	     "    fi\n"
	     "}\n"
	     "\n"
	     "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then\n"
	     "    _dkvm \"$@\"\n"
	     "else\n"
	     "    compdef _dkvm dkvm\n"
	     "fi");
}

/* fish: the first line of a help text as a description. */
static void fish_desc(const char *help)
{
	char *d = dk_strndup(help, strcspn(help, "\n"));
	fputs(" -d ", stdout);
	squote(d, true);
	free(d);
}

static void fish_kind(const char *kind)
{
	if (!strcmp(kind, DK_C_FILE))
		fputs(" -F", stdout);
	else if (!strcmp(kind, DK_C_DIR))
		fputs(" -a '(__fish_complete_directories)'", stdout);
	else if (!strcmp(kind, DK_C_VM))
		fputs(" -a '(__dkvm_vms)'", stdout);
	else if (!strcmp(kind, DK_C_BDF))
		fputs(" -a '(__dkvm_bdfs)'", stdout);
	else {
		char *w = expand(kind);
		fputs(" -a ", stdout);
		squote(w, true);
		free(w);
	}
}

static void fish(void)
{
	struct dk_buf all = {0}, single = {0};
	nouns(&all, &single);
	puts("# fish completion for dkvm: generated by 'dkvm completion fish' from dkvm's option tables.\n");
	printf("# the command on the line: '' (none yet), a noun waiting for its verb, or the command\n"
	       "function __dkvm_cmd\n"
	       "    set -l toks (commandline -opc)\n"
	       "    set -e toks[1]\n"
	       "    set -l noun\n"
	       "    set -l skip 0\n"
	       "    for t in $toks\n"
	       "        if test $skip = 1\n"
	       "            set skip 0\n"
	       "            continue\n"
	       "        end\n"
	       "        switch $t\n"
	       "            case --sysroot --root\n"
	       "                set skip 1\n"
	       "                continue\n"
	       "            case '-*'\n"
	       "                continue\n"
	       "        end\n"
	       "        if test -z \"$noun\"\n"
	       "            set noun $t\n"
	       "            if contains -- $t %s\n"
	       "                echo $t\n"
	       "                return\n"
	       "            end\n"
	       "        else\n"
	       "            echo \"$noun $t\"\n"
	       "            return\n"
	       "        end\n"
	       "    end\n"
	       "    echo $noun\n"
	       "end\n"
	       "\n"
	       "function __dkvm_is\n"
	       "    test (__dkvm_cmd) = \"$argv[1]\"\n"
	       "end\n"
	       "\n"
	       "function __dkvm_vms\n"
	       "    set -l dir (set -q XDG_DATA_HOME; and echo $XDG_DATA_HOME; or echo $HOME/.local/share)/dkvm\n"
	       "    set -l toks (commandline -opc)\n"
	       "    for i in (seq (count $toks))\n"
	       "        if test \"$toks[$i]\" = --dir; and test $i -lt (count $toks)\n"
	       "            set dir $toks[(math $i + 1)]\n"
	       "        end\n"
	       "    end\n"
	       "    for f in $dir/*/manifest.json\n"
	       "        basename (dirname $f)\n"
	       "    end\n"
	       "end\n"
	       "\n"
	       "function __dkvm_bdfs\n"
	       "    for f in /sys/bus/pci/devices/*\n"
	       "        basename $f\n"
	       "    end\n"
	       "end\n"
	       "\n"
	       "complete -c dkvm -f\n"
	       "complete -c dkvm -l json -d 'machine-readable output on stdout'\n"
	       "complete -c dkvm -l sysroot -x -a '(__fish_complete_directories)' -d 'read host facts under DIR'\n"
	       "complete -c dkvm -l root -x -a '(__fish_complete_directories)' -d 'write system files under DIR'\n"
	       "complete -c dkvm -s v -l verbose -d 'more detail'\n"
	       "complete -c dkvm -s q -l quiet -d 'errors only'\n"
	       "complete -c dkvm -l no-color -d 'no colors'\n"
	       "complete -c dkvm -s h -l help -d 'this help'\n"
	       "complete -c dkvm -n '__dkvm_is \"\"' -l version -d 'print the version'\n",
	       single.data);
	dk_buf_free(&all);
	dk_buf_free(&single);
	for (size_t i = 0; i < dk_n_commands; i++) {
		const struct dk_cmd *c = &dk_commands[i];
		bool first_of_noun = i == 0 || strcmp(dk_commands[i - 1].noun, c->noun) != 0;
		if (!c->verb || first_of_noun) {
			printf("complete -c dkvm -n '__dkvm_is \"\"' -a %s", c->noun);
			fish_desc(c->verb ? c->noun : c->summary);
			putchar('\n');
		}
		if (c->verb) {
			printf("complete -c dkvm -n '__dkvm_is %s' -a %s", c->noun, c->verb);
			fish_desc(c->summary);
			putchar('\n');
		}
	}
	for (size_t i = 0; i < dk_n_commands; i++) {
		const struct dk_cmd *c = &dk_commands[i];
		char *name = cmd_name(c);
		if (c->spec->operands) {
			printf("complete -c dkvm -n '__dkvm_is \"%s\"'", name);
			fish_kind(c->spec->operands);
			putchar('\n');
		}
		for (const struct dk_opt *o = c->spec->opts; o->name; o++) {
			if (!o->help || (o->flags & DK_OPT_GLOBAL))
				continue;
			printf("complete -c dkvm -n '__dkvm_is \"%s\"' -l %s", name, o->name);
			if (o->flags & DK_OPT_SHORT)
				printf(" -s %c", o->val);
			if (o->arg && o->complete && !strcmp(o->complete, DK_C_FILE)) {
				fputs(" -r -F", stdout);
			} else if (o->arg) {
				fputs(" -x", stdout); /* an argument, not a file */
				if (o->complete)
					fish_kind(o->complete);
			}
			fish_desc(o->help);
			putchar('\n');
		}
		free(name);
	}
}

int dk_cmd_completion(int argc, char **argv)
{
	const char *shell;
	int r = dk_cli_one_operand("completion", &dk_spec_completion, argc, argv, &shell);
	if (r == -1)
		return DK_EXIT_OK;
	if (r)
		return r;
	static const char *const shells[] = {"bash", "zsh", "fish", NULL};
	int k = dk_cli_choice("completion", "the shell", shell, shells);
	if (k < 0)
		return DK_EXIT_USAGE;
	if (k == 0)
		bash();
	else if (k == 1)
		zsh();
	else
		fish();
	return DK_EXIT_OK;
}
