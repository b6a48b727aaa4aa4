/* Plugin loading and the component index. */
#include <cnas/registry.h>

#include <cnas/dataset.h>
#include <cnas/generator.h>
#include <cnas/log.h>
#include <cnas/op.h>
#include <cnas/space.h>
#include <cnas/strategy.h>

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "params_internal.h"

typedef struct loaded {
    char *path;
    void *handle;
    const cnas_plugin_desc *desc;
    int level;      /* the search-path entry it came from */
} loaded;

/* Each public load call is one level of the search path. A plugin whose name is
 * already loaded from an earlier level is shadowed (skipped, as PATH does with
 * commands); the same name twice within one level is an error. */
struct cnas_registry {
    loaded *p;
    int n, cap;
    int level;
};

/* The most recently created live registry: how a plugin finds components of other
 * plugins (a strategy its generator; cnas_registry_default in generator.h). */
static cnas_registry *default_registry;

cnas_registry *cnas_registry_default(void)
{
    return default_registry;
}

cnas_registry *cnas_registry_new(cnas_error *err)
{
    cnas_registry *r = calloc(1, sizeof *r);
    if (!r)
        cnas_error_set(err, CNAS_ERR_NOMEM, "registry: out of memory");
    else
        default_registry = r;
    return r;
}

void cnas_registry_free(cnas_registry *r)
{
    if (!r)
        return;
    if (default_registry == r)
        default_registry = NULL;
    for (int i = 0; i < r->n; i++) {
        free(r->p[i].path);
        dlclose(r->p[i].handle);
    }
    free(r->p);
    free(r);
}

/* ---- the file before dlopen ------------------------------------------------------
 *
 * dlopen maps a file as its program headers say and then follows the dynamic
 * section's addresses into the mapping without checking them: a truncated file
 * (a copy cut short, a download in progress) makes the mapping reach past the end of
 * the file, and the first touch of such a page kills the process with SIGBUS; a
 * corrupted table sends the dynamic loader to a wild address. So the whole file is
 * read and everything the loader will use is checked first: the header, every
 * program and section header against the file size, every LOAD segment inside the
 * file, the dynamic section inside a LOAD segment, and the tables it names (strings,
 * symbols, hash tables, symbol versions, relocations, constructors) inside the
 * segments they must be in (readable, writable, executable as the loader uses
 * them), with every relocation of a type a shared object has, writing into a writable
 * segment once, and every relative address pointing into the object; constructors
 * and exported functions start where the static symbol table says functions start.
 * Where the file has section headers, the dynamic section must agree with them, and
 * every allocated section must be where the segments map it: two descriptions of
 * one layout, so that a changed pointer in either one shows. What is left unchecked
 * is machine code (no reading of a file can tell a flipped instruction from a good
 * one) and a value that is wrong but well-formed (a relocation bound to another
 * existing symbol, a constructor address moved onto another function of a stripped
 * file). */

#ifndef DT_RELRSZ
#define DT_RELRSZ 35
#define DT_RELR 36
#define DT_RELRENT 37
#endif

#if defined(__x86_64__)
#define ELF_R_RELATIVE R_X86_64_RELATIVE
#define ELF_R_IRELATIVE R_X86_64_IRELATIVE
#define ELF_R_COPY R_X86_64_COPY
#define ELF_R_ABS64 R_X86_64_64
#define ELF_R_GLOB_DAT R_X86_64_GLOB_DAT
#define ELF_R_JUMP_SLOT R_X86_64_JUMP_SLOT
#define ELF_RELA_ONLY 1
/* The dynamic relocations a shared object has. */
static const unsigned elf_dynamic_reloc_types[] = {
    R_X86_64_NONE, R_X86_64_64, R_X86_64_GLOB_DAT, R_X86_64_JUMP_SLOT, R_X86_64_RELATIVE,
    R_X86_64_DTPMOD64, R_X86_64_DTPOFF64, R_X86_64_TPOFF64, R_X86_64_IRELATIVE, R_X86_64_TLSDESC};
#elif defined(__aarch64__)
#define ELF_R_RELATIVE R_AARCH64_RELATIVE
#define ELF_R_IRELATIVE R_AARCH64_IRELATIVE
#define ELF_R_COPY R_AARCH64_COPY
#define ELF_R_ABS64 R_AARCH64_ABS64
#define ELF_R_GLOB_DAT R_AARCH64_GLOB_DAT
#define ELF_R_JUMP_SLOT R_AARCH64_JUMP_SLOT
#define ELF_RELA_ONLY 1
static const unsigned elf_dynamic_reloc_types[] = {
    R_AARCH64_NONE, R_AARCH64_ABS64, R_AARCH64_GLOB_DAT, R_AARCH64_JUMP_SLOT, R_AARCH64_RELATIVE,
    R_AARCH64_TLS_DTPMOD, R_AARCH64_TLS_DTPREL, R_AARCH64_TLS_TPREL, R_AARCH64_TLSDESC,
    R_AARCH64_IRELATIVE};
#endif

/* More than any sane object has; past these a header is taken for corrupt. */
enum { ELF_MAX_PHNUM = 256, ELF_MAX_ARRAY_SLOTS = 65536, ELF_MAX_VERSIONS = 65535 };

typedef struct elf_img {
    const char *path;
    const unsigned char *b; /* the whole file */
    uint64_t size;
    Elf64_Phdr *ph;         /* copies, aligned */
    int phnum;
    uint64_t lo, hi;        /* the loaded span: lowest p_vaddr, highest p_vaddr + p_memsz */
    bool textrel;
    uint64_t shoff, shnum;  /* section headers (none: 0) */
    uint64_t *funcs;        /* sorted function addresses of the static symbol table, if any */
    size_t n_funcs;
} elf_img;

static cnas_status elf_bad(const elf_img *m, cnas_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static cnas_status elf_bad(const elf_img *m, cnas_error *err, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: truncated or corrupt ELF file (%s)",
                          m->path, what);
}

static bool in_file(const elf_img *m, uint64_t off, uint64_t len)
{
    return off <= m->size && len <= m->size - off;
}

/* Reads at any offset, through memcpy: the file's fields need not be aligned. */
static void elf_read(const elf_img *m, uint64_t off, void *out, size_t n)
{
    memcpy(out, m->b + off, n);
}

static bool range_in(uint64_t start, uint64_t len, uint64_t seg, uint64_t seg_len)
{
    return start >= seg && start - seg <= seg_len && len <= seg_len - (start - seg);
}

/* The file offset of [vaddr, vaddr + len) when a LOAD segment with all of `flags` maps
 * it from the file (the loader reads its tables from the mapping: PF_R). */
static bool file_backed(const elf_img *m, uint64_t vaddr, uint64_t len, uint32_t flags,
                        uint64_t *off)
{
    for (int i = 0; i < m->phnum; i++) {
        const Elf64_Phdr *p = &m->ph[i];
        if (p->p_type == PT_LOAD && (p->p_flags & flags) == flags &&
            range_in(vaddr, len, p->p_vaddr, p->p_filesz)) {
            if (off)
                *off = p->p_offset + (vaddr - p->p_vaddr);
            return true;
        }
    }
    return false;
}

/* [vaddr, vaddr + len) inside one LOAD segment's memory that has all of `flags`. */
static bool mapped(const elf_img *m, uint64_t vaddr, uint64_t len, uint32_t flags)
{
    for (int i = 0; i < m->phnum; i++) {
        const Elf64_Phdr *p = &m->ph[i];
        if (p->p_type == PT_LOAD && (p->p_flags & flags) == flags &&
            range_in(vaddr, len, p->p_vaddr, p->p_memsz))
            return true;
    }
    return false;
}

static const char *phdr_type(uint32_t t)
{
    switch (t) {
    case PT_LOAD: return "LOAD";
    case PT_DYNAMIC: return "DYNAMIC";
    case PT_INTERP: return "INTERP";
    case PT_NOTE: return "NOTE";
    case PT_PHDR: return "PHDR";
    case PT_TLS: return "TLS";
    case PT_GNU_EH_FRAME: return "GNU_EH_FRAME";
    case PT_GNU_STACK: return "GNU_STACK";
    case PT_GNU_RELRO: return "GNU_RELRO";
    case PT_GNU_PROPERTY: return "GNU_PROPERTY";
    default: return "other";
    }
}

/* The notes of a NOTE or GNU_PROPERTY segment, each inside it. */
static cnas_status elf_notes(const elf_img *m, int i, cnas_error *err)
{
    const Elf64_Phdr *p = &m->ph[i];
    uint64_t align = p->p_align == 8 ? 8 : 4, at = 0;
    while (at < p->p_filesz) {
        Elf64_Nhdr n;
        if (p->p_filesz - at < sizeof n)
            return elf_bad(m, err, "segment %d (%s): a note header runs past its end", i,
                           phdr_type(p->p_type));
        elf_read(m, p->p_offset + at, &n, sizeof n);
        /* The name follows the header, the description and the next note start at the
         * next multiple of the alignment (from the segment's start). */
        uint64_t desc = (at + sizeof n + n.n_namesz + align - 1) / align * align;
        uint64_t next = (desc + n.n_descsz + align - 1) / align * align;
        if (desc > p->p_filesz || n.n_descsz > p->p_filesz - desc)
            return elf_bad(m, err, "segment %d (%s): a note of %u + %u bytes runs past its end",
                           i, phdr_type(p->p_type), n.n_namesz, n.n_descsz);
        at = next;
    }
    return CNAS_OK;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Where functions start, from the static symbol table (absent from a stripped file):
 * the addresses the loader calls (constructors, the entry) and every exported
 * function must be among them. */
static cnas_status elf_functions(elf_img *m, const Elf64_Shdr *s, cnas_error *err)
{
    if (s->sh_entsize != sizeof(Elf64_Sym) || s->sh_size % sizeof(Elf64_Sym))
        return elf_bad(m, err, "symbol table entries of %llu bytes",
                       (unsigned long long)s->sh_entsize);
    size_t n = (size_t)(s->sh_size / sizeof(Elf64_Sym));
    if (!n)
        return CNAS_OK;
    if (!(m->funcs = malloc(n * sizeof *m->funcs)))
        return cnas_error_set(err, CNAS_ERR_NOMEM, "plugin %s: out of memory", m->path);
    for (size_t i = 0; i < n; i++) {
        Elf64_Sym y;
        elf_read(m, s->sh_offset + i * sizeof y, &y, sizeof y);
        if ((ELF64_ST_TYPE(y.st_info) == STT_FUNC || ELF64_ST_TYPE(y.st_info) == STT_GNU_IFUNC) &&
            y.st_shndx != SHN_UNDEF)
            m->funcs[m->n_funcs++] = y.st_value;
    }
    qsort(m->funcs, m->n_funcs, sizeof *m->funcs, cmp_u64);
    return CNAS_OK;
}

/* Code at `addr`: in an executable segment and, where the file lists its functions,
 * the start of one. */
static bool code_at(const elf_img *m, uint64_t addr)
{
    if (!mapped(m, addr, 1, PF_X))
        return false;
    return !m->n_funcs || bsearch(&addr, m->funcs, m->n_funcs, sizeof *m->funcs, cmp_u64);
}

/* The ELF header, the program headers and the segments, the section headers. */
static cnas_status elf_layout(elf_img *m, const Elf64_Ehdr *h, cnas_error *err)
{
    if (h->e_ident[EI_VERSION] != EV_CURRENT || h->e_version != EV_CURRENT)
        return elf_bad(m, err, "ELF version %u, expected %d", (unsigned)h->e_version, EV_CURRENT);
    if (h->e_ehsize != sizeof(Elf64_Ehdr))
        return elf_bad(m, err, "header size %u, expected %zu", h->e_ehsize, sizeof(Elf64_Ehdr));
    if (h->e_phentsize != sizeof(Elf64_Phdr))
        return elf_bad(m, err, "program header size %u, expected %zu", h->e_phentsize,
                       sizeof(Elf64_Phdr));
    if (h->e_phnum == 0 || h->e_phnum > ELF_MAX_PHNUM)
        return elf_bad(m, err, "%u program headers", h->e_phnum);
    if (!in_file(m, h->e_phoff, (uint64_t)h->e_phnum * sizeof(Elf64_Phdr)))
        return elf_bad(m, err, "program headers at offset %llu (%u of %zu bytes) past the end of "
                       "the %llu-byte file", (unsigned long long)h->e_phoff, h->e_phnum,
                       sizeof(Elf64_Phdr), (unsigned long long)m->size);
    m->phnum = h->e_phnum;
    if (!(m->ph = malloc((size_t)m->phnum * sizeof *m->ph)))
        return cnas_error_set(err, CNAS_ERR_NOMEM, "plugin %s: out of memory", m->path);
    elf_read(m, h->e_phoff, m->ph, (size_t)m->phnum * sizeof *m->ph);
    int n_load = 0, n_dyn = 0;
    uint64_t prev_end = 0;
    for (int i = 0; i < m->phnum; i++) {
        const Elf64_Phdr *p = &m->ph[i];
        const char *t = phdr_type(p->p_type);
        if (p->p_type != PT_GNU_STACK && p->p_filesz && !in_file(m, p->p_offset, p->p_filesz))
            return elf_bad(m, err, "segment %d (%s) at file offset %llu + %llu bytes, past the end "
                           "of the %llu-byte file", i, t, (unsigned long long)p->p_offset,
                           (unsigned long long)p->p_filesz, (unsigned long long)m->size);
        if (p->p_align > 1 && (p->p_align & (p->p_align - 1)))
            return elf_bad(m, err, "segment %d (%s): alignment %llu is not a power of two", i, t,
                           (unsigned long long)p->p_align);
        if (p->p_type == PT_LOAD || p->p_type == PT_TLS) {
            uint64_t end;
            if (p->p_filesz > p->p_memsz || __builtin_add_overflow(p->p_vaddr, p->p_memsz, &end))
                return elf_bad(m, err, "segment %d (%s): %llu bytes in the file, %llu in memory at "
                               "0x%llx", i, t, (unsigned long long)p->p_filesz,
                               (unsigned long long)p->p_memsz, (unsigned long long)p->p_vaddr);
        }
        if (p->p_type != PT_LOAD)
            continue;
        if (p->p_offset > m->size)
            return elf_bad(m, err, "segment %d (LOAD) at file offset %llu, past the end of the "
                           "%llu-byte file", i, (unsigned long long)p->p_offset,
                           (unsigned long long)m->size);
        if (p->p_align > 1 && (p->p_vaddr - p->p_offset) % p->p_align)
            return elf_bad(m, err, "segment %d (LOAD): address 0x%llx and offset %llu disagree "
                           "modulo its alignment %llu", i, (unsigned long long)p->p_vaddr,
                           (unsigned long long)p->p_offset, (unsigned long long)p->p_align);
        if (n_load && p->p_vaddr < prev_end)
            return elf_bad(m, err, "segment %d (LOAD) at 0x%llx overlaps or precedes the one "
                           "before it", i, (unsigned long long)p->p_vaddr);
        prev_end = p->p_vaddr + p->p_memsz;
        if (!n_load++)
            m->lo = p->p_vaddr;
        m->hi = prev_end;
    }
    if (!n_load)
        return elf_bad(m, err, "no LOAD segment");
    for (int i = 0; i < m->phnum; i++) {
        const Elf64_Phdr *p = &m->ph[i];
        cnas_status st;
        switch (p->p_type) {
        case PT_DYNAMIC: {
            uint64_t off = 0;
            n_dyn++;
            if (p->p_filesz < sizeof(Elf64_Dyn) || p->p_filesz % sizeof(Elf64_Dyn))
                return elf_bad(m, err, "segment %d (DYNAMIC) of %llu bytes", i,
                               (unsigned long long)p->p_filesz);
            /* The loader adjusts the entries in place unless the segment says read-only. */
            uint32_t need = PF_R | (p->p_flags & PF_W);
            if (!file_backed(m, p->p_vaddr, p->p_filesz, need, &off) || off != p->p_offset)
                return elf_bad(m, err, "segment %d (DYNAMIC) at 0x%llx is not inside a %s LOAD "
                               "segment", i, (unsigned long long)p->p_vaddr,
                               need & PF_W ? "readable and writable" : "readable");
            break;
        }
        case PT_TLS:
            if (p->p_filesz && !file_backed(m, p->p_vaddr, p->p_filesz, PF_R, NULL))
                return elf_bad(m, err, "segment %d (TLS) at 0x%llx is not inside a LOAD segment",
                               i, (unsigned long long)p->p_vaddr);
            break;
        case PT_GNU_RELRO:
            if (!mapped(m, p->p_vaddr, p->p_memsz, 0))
                return elf_bad(m, err, "segment %d (GNU_RELRO) at 0x%llx is not inside a LOAD "
                               "segment", i, (unsigned long long)p->p_vaddr);
            break;
        case PT_PHDR: {
            /* Where the loader (and dl_iterate_phdr) finds the program headers later. */
            uint64_t off = 0, len = (uint64_t)h->e_phnum * sizeof(Elf64_Phdr);
            if (p->p_filesz < len || !file_backed(m, p->p_vaddr, len, PF_R, &off) ||
                off != h->e_phoff)
                return elf_bad(m, err, "segment %d (PHDR) at 0x%llx does not map the program "
                               "headers", i, (unsigned long long)p->p_vaddr);
            break;
        }
        case PT_GNU_PROPERTY:
            if (!file_backed(m, p->p_vaddr, p->p_filesz, PF_R, NULL))
                return elf_bad(m, err, "segment %d (GNU_PROPERTY) at 0x%llx is not inside a LOAD "
                               "segment", i, (unsigned long long)p->p_vaddr);
            /* fall through */
        case PT_NOTE:
            if ((st = elf_notes(m, i, err)))
                return st;
            break;
        default: break;
        }
    }
    /* Section headers: the loader does not read them, but a file cut short loses them
     * first (they come last), and they describe the layout a second time. */
    if (h->e_shoff || h->e_shnum) {
        if (h->e_shentsize != sizeof(Elf64_Shdr))
            return elf_bad(m, err, "section header size %u, expected %zu", h->e_shentsize,
                           sizeof(Elf64_Shdr));
        if (!in_file(m, h->e_shoff, sizeof(Elf64_Shdr)))
            return elf_bad(m, err, "section headers at offset %llu, past the end of the %llu-byte "
                           "file", (unsigned long long)h->e_shoff, (unsigned long long)m->size);
        Elf64_Shdr s0;
        elf_read(m, h->e_shoff, &s0, sizeof s0);
        uint64_t shnum = h->e_shnum ? h->e_shnum : s0.sh_size; /* extended numbering */
        if (shnum > (m->size - h->e_shoff) / sizeof(Elf64_Shdr))
            return elf_bad(m, err, "%llu section headers at offset %llu, past the end of the "
                           "%llu-byte file", (unsigned long long)shnum,
                           (unsigned long long)h->e_shoff, (unsigned long long)m->size);
        m->shoff = h->e_shoff;
        m->shnum = shnum;
        uint64_t strndx = h->e_shstrndx == SHN_XINDEX ? s0.sh_link : h->e_shstrndx;
        if (strndx >= shnum && strndx != SHN_UNDEF)
            return elf_bad(m, err, "section name table index %llu of %llu sections",
                           (unsigned long long)strndx, (unsigned long long)shnum);
        for (uint64_t i = 1; i < shnum; i++) {
            Elf64_Shdr s;
            elf_read(m, h->e_shoff + i * sizeof s, &s, sizeof s);
            if (s.sh_type != SHT_NOBITS && s.sh_type != SHT_NULL &&
                !in_file(m, s.sh_offset, s.sh_size))
                return elf_bad(m, err, "section %llu at file offset %llu + %llu bytes, past the "
                               "end of the %llu-byte file", (unsigned long long)i,
                               (unsigned long long)s.sh_offset, (unsigned long long)s.sh_size,
                               (unsigned long long)m->size);
            if (s.sh_type == SHT_SYMTAB && !m->funcs) {
                cnas_status st = elf_functions(m, &s, err);
                if (st)
                    return st;
            }
        }
    }
    if (n_dyn != 1)
        return elf_bad(m, err, n_dyn ? "%d DYNAMIC segments" : "no DYNAMIC segment%.0d", n_dyn);
    /* Every allocated section where the segments map it: a segment moved in the file
     * would map other bytes at its addresses. */
    for (uint64_t i = 1; i < m->shnum; i++) {
        Elf64_Shdr sh;
        elf_read(m, m->shoff + i * sizeof sh, &sh, sizeof sh);
        uint64_t off = 0;
        if (!(sh.sh_flags & SHF_ALLOC) || sh.sh_type == SHT_NOBITS || sh.sh_type == SHT_NULL ||
            !sh.sh_size)
            continue;
        if (!file_backed(m, sh.sh_addr, sh.sh_size, 0, &off) || off != sh.sh_offset)
            return elf_bad(m, err, "section %llu (0x%llx, %llu bytes at file offset %llu) is not "
                           "where the LOAD segments map it", (unsigned long long)i,
                           (unsigned long long)sh.sh_addr, (unsigned long long)sh.sh_size,
                           (unsigned long long)sh.sh_offset);
    }
    return CNAS_OK;
}

/* What the dynamic section says. */
typedef struct elf_dyn {
    uint64_t strtab, strsz, symtab, syment, hash, gnu_hash, versym, verneed, verneednum, verdef,
        verdefnum, rela, relasz, relaent, rel, relsz, relent, jmprel, pltrelsz, pltrel, relr,
        relrsz, relrent, relacount, init, fini, init_array, init_arraysz, fini_array,
        fini_arraysz, pltgot, flags;
    bool has_strtab, has_symtab, has_strsz, has_init, has_fini, has_pltgot;
    uint64_t nsyms;
    int max_version;
    unsigned char *covered; /* constructor and destructor slots some relocation sets */
    unsigned char *referenced; /* symbols some relocation names */
    uint64_t needed[64];    /* DT_NEEDED string offsets */
    int n_needed;
    uint64_t dyn_lo, dyn_hi; /* the dynamic section's addresses */
    uint64_t *targets;      /* every place a relocation writes */
    size_t n_targets, cap_targets;
    uint64_t n_init, n_fini;
} elf_dyn;

/* A string of the dynamic string table: its offset inside, its end before the table's. */
static bool dyn_str(const elf_img *m, const elf_dyn *d, uint64_t off)
{
    uint64_t at;
    if (off >= d->strsz || !file_backed(m, d->strtab, d->strsz, PF_R, &at))
        return false;
    return memchr(m->b + at + off, '\0', d->strsz - off) != NULL;
}

/* A table the dynamic section names: inside the file through a LOAD segment. */
static cnas_status dyn_table(const elf_img *m, const char *tag, uint64_t vaddr, uint64_t len,
                             uint64_t *off, cnas_error *err)
{
    if (!file_backed(m, vaddr, len, PF_R, off))
        return elf_bad(m, err, "dynamic section: %s at 0x%llx (%llu bytes) is not inside a LOAD "
                       "segment", tag, (unsigned long long)vaddr, (unsigned long long)len);
    return CNAS_OK;
}

static cnas_status elf_hash(const elf_img *m, elf_dyn *d, cnas_error *err)
{
    uint64_t off = 0;
    cnas_status st;
    bool counted = false;
    if (d->hash) {
        uint32_t hd[2];
        if ((st = dyn_table(m, "DT_HASH", d->hash, sizeof hd, &off, err)))
            return st;
        elf_read(m, off, hd, sizeof hd);
        if (hd[0] == 0)
            return elf_bad(m, err, "DT_HASH has no buckets");
        if ((st = dyn_table(m, "DT_HASH", d->hash, 8 + 4 * ((uint64_t)hd[0] + hd[1]), &off, err)))
            return st;
        for (uint64_t k = 0; k < (uint64_t)hd[0] + hd[1]; k++) {
            uint32_t v;
            elf_read(m, off + 8 + 4 * k, &v, 4);
            if (v >= hd[1])
                return elf_bad(m, err, "DT_HASH entry %llu is %u, past its %u symbols",
                               (unsigned long long)k, v, hd[1]);
        }
        d->nsyms = hd[1];
        counted = true;
    }
    if (d->gnu_hash) {
        uint32_t hd[4]; /* nbuckets, symoffset, bloom words, bloom shift */
        if ((st = dyn_table(m, "DT_GNU_HASH", d->gnu_hash, sizeof hd, &off, err)))
            return st;
        elf_read(m, off, hd, sizeof hd);
        if (hd[0] == 0 || hd[2] == 0 || (hd[2] & (hd[2] - 1)))
            return elf_bad(m, err, "DT_GNU_HASH with %u buckets and %u bloom words", hd[0], hd[2]);
        uint64_t buckets = 16 + 8 * (uint64_t)hd[2];
        if ((st = dyn_table(m, "DT_GNU_HASH", d->gnu_hash, buckets + 4 * (uint64_t)hd[0], &off,
                            err)))
            return st;
        uint32_t top = 0;
        for (uint32_t k = 0; k < hd[0]; k++) {
            uint32_t v;
            elf_read(m, off + buckets + 4 * (uint64_t)k, &v, 4);
            if (v && v < hd[1])
                return elf_bad(m, err, "DT_GNU_HASH bucket %u is %u, below the first hashed "
                               "symbol %u", k, v, hd[1]);
            top = v > top ? v : top;
        }
        /* The last chain ends the symbol table: walk it to its end marker. */
        uint64_t n = hd[1];
        if (top) {
            uint64_t chain = d->gnu_hash + buckets + 4 * (uint64_t)hd[0];
            for (uint64_t k = top;; k++) {
                uint32_t v;
                if ((st = dyn_table(m, "DT_GNU_HASH chain", chain + 4 * (k - hd[1]), 4, &off, err)))
                    return st;
                elf_read(m, off, &v, 4);
                if (v & 1) {
                    n = k + 1;
                    break;
                }
            }
        }
        if (counted && n > d->nsyms)
            return elf_bad(m, err, "DT_GNU_HASH counts %llu symbols, DT_HASH %llu",
                           (unsigned long long)n, (unsigned long long)d->nsyms);
        if (!counted)
            d->nsyms = n;
        counted = true;
    }
    if (!counted)
        return elf_bad(m, err, "no symbol hash table (DT_GNU_HASH or DT_HASH)");
    return CNAS_OK;
}

/* Version tables, walked as the dynamic loader walks them: by their next links (it
 * does not read the counts). */
static cnas_status elf_versions(const elf_img *m, elf_dyn *d, cnas_error *err)
{
    uint64_t off = 0;
    cnas_status st;
    d->max_version = 1;
    uint64_t at = d->verneed;
    for (uint64_t i = 0; d->verneed; i++) {
        Elf64_Verneed vn;
        if (i == 4096)
            return elf_bad(m, err, "DT_VERNEED: a list without an end");
        if ((st = dyn_table(m, "DT_VERNEED", at, sizeof vn, &off, err)))
            return st;
        elf_read(m, off, &vn, sizeof vn);
        if (vn.vn_version != 1 || !dyn_str(m, d, vn.vn_file))
            return elf_bad(m, err, "DT_VERNEED entry %llu: version %u, file name at %u",
                           (unsigned long long)i, vn.vn_version, vn.vn_file);
        /* The loader asserts that it names a library the object needs. */
        uint64_t at_str = 0;
        file_backed(m, d->strtab, d->strsz, PF_R, &at_str);
        const char *file = (const char *)m->b + at_str + vn.vn_file;
        bool listed = false;
        for (int k = 0; k < d->n_needed && !listed; k++)
            listed = strcmp(file, (const char *)m->b + at_str + d->needed[k]) == 0;
        if (!listed)
            return elf_bad(m, err, "DT_VERNEED entry %llu names '%.64s', which is not a needed "
                           "library", (unsigned long long)i, file);
        uint64_t a = at + vn.vn_aux;
        for (unsigned k = 0; vn.vn_cnt; k++) {
            Elf64_Vernaux va;
            if (k == 4096)
                return elf_bad(m, err, "DT_VERNEED entry %llu: a list without an end",
                               (unsigned long long)i);
            if ((st = dyn_table(m, "DT_VERNEED aux", a, sizeof va, &off, err)))
                return st;
            elf_read(m, off, &va, sizeof va);
            if (!dyn_str(m, d, va.vna_name))
                return elf_bad(m, err, "DT_VERNEED entry %llu: a version named at %u",
                               (unsigned long long)i, va.vna_name);
            if ((va.vna_other & 0x7fff) > d->max_version)
                d->max_version = va.vna_other & 0x7fff;
            if (!va.vna_next)
                break;
            a += va.vna_next;
        }
        if (!vn.vn_next)
            break;
        at += vn.vn_next;
    }
    at = d->verdef;
    for (uint64_t i = 0; d->verdef; i++) {
        Elf64_Verdef vd;
        if (i == 4096)
            return elf_bad(m, err, "DT_VERDEF: a list without an end");
        if ((st = dyn_table(m, "DT_VERDEF", at, sizeof vd, &off, err)))
            return st;
        elf_read(m, off, &vd, sizeof vd);
        if (vd.vd_version != 1)
            return elf_bad(m, err, "DT_VERDEF entry %llu: version %u", (unsigned long long)i,
                           vd.vd_version);
        if ((vd.vd_ndx & 0x7fff) > d->max_version)
            d->max_version = vd.vd_ndx & 0x7fff;
        uint64_t a = at + vd.vd_aux;
        for (unsigned k = 0; vd.vd_cnt; k++) {
            Elf64_Verdaux va;
            if (k == 4096)
                return elf_bad(m, err, "DT_VERDEF entry %llu: a list without an end",
                               (unsigned long long)i);
            if ((st = dyn_table(m, "DT_VERDEF aux", a, sizeof va, &off, err)))
                return st;
            elf_read(m, off, &va, sizeof va);
            if (!dyn_str(m, d, va.vda_name))
                return elf_bad(m, err, "DT_VERDEF entry %llu: a name at %u", (unsigned long long)i,
                               va.vda_name);
            if (!va.vda_next)
                break;
            a += va.vda_next;
        }
        if (!vd.vd_next)
            break;
        at += vd.vd_next;
    }
    if (d->versym) {
        if ((st = dyn_table(m, "DT_VERSYM", d->versym, 2 * d->nsyms, &off, err)))
            return st;
        for (uint64_t i = 0; i < d->nsyms; i++) {
            uint16_t v;
            elf_read(m, off + 2 * i, &v, 2);
            if ((v & 0x7fff) > d->max_version)
                return elf_bad(m, err, "symbol %llu has version index %u; the file defines %d",
                               (unsigned long long)i, v & 0x7fff, d->max_version);
        }
    }
    return CNAS_OK;
}

static cnas_status elf_symbols(const elf_img *m, const elf_dyn *d, cnas_error *err)
{
    uint64_t off = 0;
    cnas_status st;
    if (d->syment && d->syment != sizeof(Elf64_Sym))
        return elf_bad(m, err, "DT_SYMENT %llu, expected %zu", (unsigned long long)d->syment,
                       sizeof(Elf64_Sym));
    if ((st = dyn_table(m, "DT_SYMTAB", d->symtab, d->nsyms * sizeof(Elf64_Sym), &off, err)))
        return st;
    for (uint64_t i = 0; i < d->nsyms; i++) {
        Elf64_Sym s;
        elf_read(m, off + i * sizeof s, &s, sizeof s);
        if (!dyn_str(m, d, s.st_name))
            return elf_bad(m, err, "symbol %llu: name at %u outside the string table",
                           (unsigned long long)i, s.st_name);
        int type = ELF64_ST_TYPE(s.st_info), bind = ELF64_ST_BIND(s.st_info);
        /* An undefined symbol is looked up by name; bound locally, it would resolve to
         * the object's own base address. */
        if (i > 0 && s.st_shndx == SHN_UNDEF &&
            ((bind != STB_GLOBAL && bind != STB_WEAK) ||
             ELF64_ST_VISIBILITY(s.st_other) != STV_DEFAULT))
            return elf_bad(m, err, "undefined symbol %llu with binding %d and visibility %d",
                           (unsigned long long)i, bind, ELF64_ST_VISIBILITY(s.st_other));
        if (s.st_shndx == SHN_UNDEF || s.st_shndx == SHN_ABS || type == STT_TLS)
            continue;
        if (!mapped(m, s.st_value, 0, 0))
            return elf_bad(m, err, "symbol %llu at 0x%llx, outside the object",
                           (unsigned long long)i, (unsigned long long)s.st_value);
        if ((type == STT_FUNC || type == STT_GNU_IFUNC) && !code_at(m, s.st_value))
            return elf_bad(m, err, "function symbol %llu at 0x%llx, not the start of a function",
                           (unsigned long long)i, (unsigned long long)s.st_value);
    }
    return CNAS_OK;
}

/* One relocation: its symbol exists, it writes into a writable segment (or a text
 * relocation's), and an address it computes from the object's base lies inside. */
/* How a relocation is applied: by its type, as one of the first DT_RELACOUNT
 * entries (taken for relative whatever the type), as a DT_RELR place. */
enum { RELOC_TYPED, RELOC_COUNTED, RELOC_RELR };

static cnas_status elf_reloc(const elf_img *m, elf_dyn *d, const char *table, uint64_t i,
                             uint64_t where, uint64_t info, uint64_t addend, int how,
                             cnas_error *err)
{
    bool relative = how != RELOC_TYPED;
    uint64_t sym = ELF64_R_SYM(info);
    unsigned type = (unsigned)ELF64_R_TYPE(info);
    if (type == 0 && !relative)
        return CNAS_OK; /* R_*_NONE: nothing is written */
    if (sym >= d->nsyms)
        return elf_bad(m, err, "%s relocation %llu names symbol %llu of %llu", table,
                       (unsigned long long)i, (unsigned long long)sym,
                       (unsigned long long)d->nsyms);
    d->referenced[sym] = 1;
    if (!mapped(m, where, 8, m->textrel ? 0 : PF_W))
        return elf_bad(m, err, "%s relocation %llu writes to 0x%llx, outside the writable "
                       "segments", table, (unsigned long long)i, (unsigned long long)where);
    /* The loader reads the dynamic section again after relocating. */
    if (where + 8 > d->dyn_lo && where < d->dyn_hi)
        return elf_bad(m, err, "%s relocation %llu writes into the dynamic section (0x%llx)",
                       table, (unsigned long long)i, (unsigned long long)where);
    if (d->n_targets == d->cap_targets) {
        size_t cap = d->cap_targets ? 2 * d->cap_targets : 256;
        uint64_t *t = realloc(d->targets, cap * sizeof *t);
        if (!t)
            return cnas_error_set(err, CNAS_ERR_NOMEM, "plugin %s: out of memory", m->path);
        d->targets = t;
        d->cap_targets = cap;
    }
    d->targets[d->n_targets++] = where;
#ifdef ELF_R_RELATIVE
    bool known = how == RELOC_RELR;
    for (size_t k = 0; k < sizeof elf_dynamic_reloc_types / sizeof *elf_dynamic_reloc_types; k++)
        known = known || type == elf_dynamic_reloc_types[k];
    if (!known)
        return elf_bad(m, err, "%s relocation %llu has type %u, which no shared object uses",
                       table, (unsigned long long)i, type);
    if (type == ELF_R_COPY)
        return elf_bad(m, err, "%s relocation %llu is a copy relocation, which no shared object "
                       "has", table, (unsigned long long)i);
    /* The dynamic loader asserts that the first DT_RELACOUNT entries are relative. */
    if (how == RELOC_COUNTED && type != ELF_R_RELATIVE)
        return elf_bad(m, err, "%s relocation %llu of type %u among the first DT_RELACOUNT = "
                       "%llu, which must be relative", table, (unsigned long long)i, type,
                       (unsigned long long)d->relacount);
    /* An address bound to the null symbol is the object's base: never a pointer. */
    if (sym == 0 && (type == ELF_R_ABS64 || type == ELF_R_GLOB_DAT || type == ELF_R_JUMP_SLOT))
        return elf_bad(m, err, "%s relocation %llu of type %u names no symbol", table,
                       (unsigned long long)i, type);
    relative = relative || type == ELF_R_RELATIVE;
    if (type == ELF_R_IRELATIVE && !code_at(m, addend))
        return elf_bad(m, err, "%s relocation %llu calls 0x%llx, not the start of a function", table,
                       (unsigned long long)i, (unsigned long long)addend);
#else
    (void)type;
#endif
    bool slot = false;
    uint64_t k = 0;
    if (where >= d->init_array && where - d->init_array < 8 * d->n_init &&
        (where - d->init_array) % 8 == 0) {
        slot = true;
        k = (where - d->init_array) / 8;
    } else if (where >= d->fini_array && where - d->fini_array < 8 * d->n_fini &&
               (where - d->fini_array) % 8 == 0) {
        slot = true;
        k = d->n_init + (where - d->fini_array) / 8;
    }
    if (relative && !mapped(m, addend, 0, 0))
        return elf_bad(m, err, "%s relocation %llu points to 0x%llx, outside the object", table,
                       (unsigned long long)i, (unsigned long long)addend);
    /* Linkers that keep the addend in the relocation (RELA) usually also write it at the
     * place: a different value there means one of the two changed. */
    uint64_t at = 0, stored = 0;
    if (relative && how != RELOC_RELR && file_backed(m, where, 8, 0, &at)) {
        elf_read(m, at, &stored, 8);
        if (stored && stored != addend)
            return elf_bad(m, err, "%s relocation %llu says 0x%llx, the place it relocates 0x%llx",
                           table, (unsigned long long)i, (unsigned long long)addend,
                           (unsigned long long)stored);
    }
    if (slot && relative && !code_at(m, addend))
        return elf_bad(m, err, "%s relocation %llu makes a constructor or destructor of 0x%llx, "
                       "not the start of a function", table, (unsigned long long)i,
                       (unsigned long long)addend);
    if (slot)
        d->covered[k] = 1;
    return CNAS_OK;
}

typedef struct reloc_table {
    const char *name;
    uint64_t addr, size, ent;
    bool rela;
} reloc_table;

static void reloc_tables(const elf_dyn *d, reloc_table t[3])
{
    t[0] = (reloc_table){"DT_RELA", d->rela, d->relasz,
                         d->relaent ? d->relaent : sizeof(Elf64_Rela), true};
    t[1] = (reloc_table){"DT_REL", d->rel, d->relsz, d->relent ? d->relent : sizeof(Elf64_Rel),
                         false};
    t[2] = (reloc_table){"DT_JMPREL", d->jmprel, d->pltrelsz,
                         d->pltrel == DT_REL ? sizeof(Elf64_Rel) : sizeof(Elf64_Rela),
                         d->pltrel != DT_REL};
}

/* The relocation tables inside the file, and the highest symbol they name: the
 * symbol table must hold it (the GNU hash table counts only the hashed symbols). */
static cnas_status elf_reloc_tables(const elf_img *m, elf_dyn *d, cnas_error *err)
{
    reloc_table t[3];
    reloc_tables(d, t);
    if (d->jmprel && d->pltrel != DT_RELA && d->pltrel != DT_REL)
        return elf_bad(m, err, "DT_PLTREL %llu", (unsigned long long)d->pltrel);
    for (int q = 0; q < 3; q++) {
        if (!t[q].addr || !t[q].size)
            continue;
        size_t want = t[q].rela ? sizeof(Elf64_Rela) : sizeof(Elf64_Rel);
        uint64_t off = 0;
        cnas_status st;
        if (t[q].ent != want || t[q].size % want)
            return elf_bad(m, err, "%s of %llu bytes in entries of %llu", t[q].name,
                           (unsigned long long)t[q].size, (unsigned long long)t[q].ent);
        if ((st = dyn_table(m, t[q].name, t[q].addr, t[q].size, &off, err)))
            return st;
        for (uint64_t i = 0; i < t[q].size / want; i++) {
            Elf64_Rela r = {0};
            elf_read(m, off + i * want, &r, want);
            if (ELF64_R_SYM(r.r_info) >= d->nsyms)
                d->nsyms = ELF64_R_SYM(r.r_info) + 1;
        }
    }
    return CNAS_OK;
}

static cnas_status elf_relocs(const elf_img *m, elf_dyn *d, cnas_error *err)
{
    uint64_t off = 0;
    cnas_status st;
    reloc_table t[3];
    reloc_tables(d, t);
    for (int q = 0; q < 3; q++) {
        if (!t[q].addr || !t[q].size)
            continue;
        size_t want = t[q].rela ? sizeof(Elf64_Rela) : sizeof(Elf64_Rel);
        if ((st = dyn_table(m, t[q].name, t[q].addr, t[q].size, &off, err)))
            return st;
        uint64_t n = t[q].size / want;
        if (q == 0 && d->relacount > n)
            return elf_bad(m, err, "DT_RELACOUNT %llu, more than the %llu relocations",
                           (unsigned long long)d->relacount, (unsigned long long)n);
        for (uint64_t i = 0; i < n; i++) {
            Elf64_Rela r = {0};
            elf_read(m, off + i * want, &r, want);
            uint64_t addend = r.r_addend;
            if (!t[q].rela) {
                /* REL keeps the addend at the place it relocates. */
                uint64_t at;
                addend = 0;
                if (file_backed(m, r.r_offset, 8, PF_R, &at))
                    elf_read(m, at, &addend, 8);
            }
            /* An empty entry in the PLT's table leaves its slot unrelocated, and the first
             * call through it jumps to a link-time address (no linker writes one there). */
            if (q == 2 && ELF64_R_TYPE(r.r_info) == 0)
                return elf_bad(m, err, "DT_JMPREL relocation %llu is empty (type 0): its PLT "
                               "slot would stay unrelocated", (unsigned long long)i);
            /* The dynamic loader takes the first DT_RELACOUNT entries for relative
             * ones whatever their type says. */
            if ((st = elf_reloc(m, d, t[q].name, i, r.r_offset, r.r_info, addend,
                                q == 0 && i < d->relacount ? RELOC_COUNTED : RELOC_TYPED, err)))
                return st;
        }
    }
    if (d->relr && d->relrsz) {
        if (d->relrent != 8 || d->relrsz % 8)
            return elf_bad(m, err, "DT_RELR of %llu bytes in entries of %llu",
                           (unsigned long long)d->relrsz, (unsigned long long)d->relrent);
        if ((st = dyn_table(m, "DT_RELR", d->relr, d->relrsz, &off, err)))
            return st;
        uint64_t base = 0;
        for (uint64_t i = 0; i < d->relrsz / 8; i++) {
            uint64_t e;
            elf_read(m, off + 8 * i, &e, 8);
            uint64_t places[64];
            int n = 0;
            if (!(e & 1)) {
                places[n++] = e;
                base = e + 8;
            } else {
                for (int b = 0; (e >>= 1) != 0; b++)
                    if (e & 1)
                        places[n++] = base + 8 * (uint64_t)b;
                base += 63 * 8;
            }
            for (int k = 0; k < n; k++) {
                uint64_t at, addend = 0;
                if (!file_backed(m, places[k], 8, PF_R, &at))
                    return elf_bad(m, err, "DT_RELR entry %llu relocates 0x%llx, outside the "
                                   "file", (unsigned long long)i, (unsigned long long)places[k]);
                elf_read(m, at, &addend, 8);
                if ((st = elf_reloc(m, d, "DT_RELR", i, places[k], 0, addend, RELOC_RELR, err)))
                    return st;
            }
        }
    }
    /* One relocation per place: a second one is a displaced one, and the place it
     * left keeps an unrelocated value. */
    if (d->n_targets > 1) {
        qsort(d->targets, d->n_targets, sizeof *d->targets, cmp_u64);
        for (size_t k = 1; k < d->n_targets; k++)
            if (d->targets[k] == d->targets[k - 1])
                return elf_bad(m, err, "two relocations write to 0x%llx",
                               (unsigned long long)d->targets[k]);
    }
    /* The C runtime's hooks (called when not NULL, at load and unload) are in the table
     * because the runtime's code refers to them: one that no relocation names any more
     * lost its relocation to another symbol, which the runtime would then call. */
    static const char *const hooks[] = {"__gmon_start__", "_ITM_registerTMCloneTable",
                                        "_ITM_deregisterTMCloneTable", "__cxa_finalize"};
    uint64_t symoff = 0, stroff = 0;
    file_backed(m, d->symtab, d->nsyms * sizeof(Elf64_Sym), PF_R, &symoff);
    file_backed(m, d->strtab, d->strsz, PF_R, &stroff);
    for (uint64_t k = 1; k < d->nsyms; k++) {
        Elf64_Sym y;
        elf_read(m, symoff + k * sizeof y, &y, sizeof y);
        if (y.st_shndx != SHN_UNDEF || d->referenced[k])
            continue;
        const char *name = (const char *)m->b + stroff + y.st_name;
        for (size_t h = 0; h < sizeof hooks / sizeof *hooks; h++)
            if (strcmp(name, hooks[h]) == 0)
                return elf_bad(m, err, "no relocation refers to %s", name);
    }
    for (uint64_t k = 0; k < d->n_init + d->n_fini; k++)
        if (!d->covered[k])
            return elf_bad(m, err, "%s entry %llu is never relocated",
                           k < d->n_init ? "DT_INIT_ARRAY" : "DT_FINI_ARRAY",
                           (unsigned long long)(k < d->n_init ? k : k - d->n_init));
    return CNAS_OK;
}

/* Where the section headers put a table of type `type`: one section of that type, its
 * address and size; false when there is no section header table, none or several. */
static bool section_of_type(const elf_img *m, uint32_t type, uint64_t *addr, uint64_t *size,
                            int *count)
{
    *count = 0;
    for (uint64_t i = 1; i < m->shnum; i++) {
        Elf64_Shdr sh;
        elf_read(m, m->shoff + i * sizeof sh, &sh, sizeof sh);
        if (sh.sh_type == type && (sh.sh_flags & SHF_ALLOC)) {
            if (!(*count)++) {
                *addr = sh.sh_addr;
                *size = sh.sh_size;
            }
        }
    }
    return *count == 1;
}

/* The dynamic section against the section headers, where the file has them: both say
 * where the tables are, and a pointer changed in one no longer agrees with the other
 * (a constructor list moved onto a table of function pointers would still pass every
 * check of its own). */
static cnas_status elf_dynamic_vs_sections(const elf_img *m, const elf_dyn *d, cnas_error *err)
{
    if (!m->shnum)
        return CNAS_OK;
    struct {
        uint32_t type;
        const char *tag;
        uint64_t addr, size;
        bool sized;
    } t[] = {
        {SHT_DYNSYM, "DT_SYMTAB", d->symtab, 0, false},
        {SHT_GNU_HASH, "DT_GNU_HASH", d->gnu_hash, 0, false},
        {SHT_HASH, "DT_HASH", d->hash, 0, false},
        {SHT_GNU_versym, "DT_VERSYM", d->versym, 0, false},
        {SHT_GNU_verneed, "DT_VERNEED", d->verneed, 0, false},
        {SHT_GNU_verdef, "DT_VERDEF", d->verdef, 0, false},
        {SHT_INIT_ARRAY, "DT_INIT_ARRAY", d->init_array, d->init_arraysz, true},
        {SHT_FINI_ARRAY, "DT_FINI_ARRAY", d->fini_array, d->fini_arraysz, true},
        {SHT_DYNAMIC, "the DYNAMIC segment", d->dyn_lo, 0, false},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        uint64_t addr = 0, size = 0;
        int count;
        bool one = section_of_type(m, t[i].type, &addr, &size, &count);
        if (count > 1)
            continue; /* not a table the dynamic section has one of */
        if (!t[i].addr && !count)
            continue;
        if (!one || !t[i].addr || addr != t[i].addr || (t[i].sized && size != t[i].size))
            return elf_bad(m, err, "%s says 0x%llx (%llu bytes), the section headers 0x%llx "
                           "(%llu bytes)", t[i].tag, (unsigned long long)t[i].addr,
                           (unsigned long long)t[i].size, (unsigned long long)(one ? addr : 0),
                           (unsigned long long)(one ? size : 0));
    }
    /* The string table is the one the symbol table links to. */
    for (uint64_t i = 1; i < m->shnum; i++) {
        Elf64_Shdr sh, str;
        elf_read(m, m->shoff + i * sizeof sh, &sh, sizeof sh);
        if (sh.sh_type != SHT_DYNSYM)
            continue;
        if (sh.sh_link == 0 || sh.sh_link >= m->shnum)
            return elf_bad(m, err, "the dynamic symbol table links to section %u", sh.sh_link);
        elf_read(m, m->shoff + (uint64_t)sh.sh_link * sizeof str, &str, sizeof str);
        if (str.sh_addr != d->strtab || str.sh_size != d->strsz)
            return elf_bad(m, err, "DT_STRTAB says 0x%llx (%llu bytes), the section headers "
                           "0x%llx (%llu bytes)", (unsigned long long)d->strtab,
                           (unsigned long long)d->strsz, (unsigned long long)str.sh_addr,
                           (unsigned long long)str.sh_size);
    }
    /* Relocation tables start and end where relocation sections do. */
    struct {
        const char *tag;
        uint64_t addr, size;
    } r[] = {{"DT_RELA", d->rela, d->relasz}, {"DT_REL", d->rel, d->relsz},
             {"DT_JMPREL", d->jmprel, d->pltrelsz}};
    for (size_t k = 0; k < sizeof r / sizeof *r; k++) {
        if (!r[k].addr || !r[k].size)
            continue;
        bool start = false, end = false;
        for (uint64_t i = 1; i < m->shnum; i++) {
            Elf64_Shdr sh;
            elf_read(m, m->shoff + i * sizeof sh, &sh, sizeof sh);
            if (sh.sh_type != SHT_RELA && sh.sh_type != SHT_REL)
                continue;
            start = start || sh.sh_addr == r[k].addr;
            end = end || sh.sh_addr + sh.sh_size == r[k].addr + r[k].size;
        }
        if (!start || !end)
            return elf_bad(m, err, "%s at 0x%llx (%llu bytes) is not where the relocation "
                           "sections are", r[k].tag, (unsigned long long)r[k].addr,
                           (unsigned long long)r[k].size);
    }
    return CNAS_OK;
}

/* The dynamic section and every table it names. */
static cnas_status elf_dynamic(elf_img *m, cnas_error *err)
{
    const Elf64_Phdr *dp = NULL;
    for (int i = 0; i < m->phnum; i++)
        if (m->ph[i].p_type == PT_DYNAMIC)
            dp = &m->ph[i];
    elf_dyn d;
    memset(&d, 0, sizeof d);
    d.dyn_lo = dp->p_vaddr;
    d.dyn_hi = dp->p_vaddr + dp->p_memsz;
    uint64_t n = dp->p_filesz / sizeof(Elf64_Dyn), end = n;
    for (uint64_t i = 0; i < n && end == n; i++) {
        Elf64_Dyn e;
        elf_read(m, dp->p_offset + i * sizeof e, &e, sizeof e);
        uint64_t v = e.d_un.d_val;
        switch (e.d_tag) {
        case DT_NULL: end = i; break;
        case DT_STRTAB: d.strtab = v; d.has_strtab = true; break;
        case DT_STRSZ: d.strsz = v; d.has_strsz = true; break;
        case DT_SYMTAB: d.symtab = v; d.has_symtab = true; break;
        case DT_SYMENT: d.syment = v; break;
        case DT_HASH: d.hash = v; break;
        case DT_GNU_HASH: d.gnu_hash = v; break;
        case DT_VERSYM: d.versym = v; break;
        case DT_VERNEED: d.verneed = v; break;
        case DT_VERNEEDNUM: d.verneednum = v; break;
        case DT_VERDEF: d.verdef = v; break;
        case DT_VERDEFNUM: d.verdefnum = v; break;
        case DT_RELA: d.rela = v; break;
        case DT_RELASZ: d.relasz = v; break;
        case DT_RELAENT: d.relaent = v; break;
        case DT_REL: d.rel = v; break;
        case DT_RELSZ: d.relsz = v; break;
        case DT_RELENT: d.relent = v; break;
        case DT_JMPREL: d.jmprel = v; break;
        case DT_PLTRELSZ: d.pltrelsz = v; break;
        case DT_PLTREL: d.pltrel = v; break;
        case DT_RELR: d.relr = v; break;
        case DT_RELRSZ: d.relrsz = v; break;
        case DT_RELRENT: d.relrent = v; break;
        case DT_RELACOUNT: d.relacount = v; break;
        case DT_INIT: d.init = v; d.has_init = true; break;
        case DT_FINI: d.fini = v; d.has_fini = true; break;
        case DT_INIT_ARRAY: d.init_array = v; break;
        case DT_INIT_ARRAYSZ: d.init_arraysz = v; break;
        case DT_FINI_ARRAY: d.fini_array = v; break;
        case DT_FINI_ARRAYSZ: d.fini_arraysz = v; break;
        case DT_PLTGOT: d.pltgot = v; d.has_pltgot = true; break;
        case DT_TEXTREL: m->textrel = true; break;
        case DT_FLAGS: d.flags = v; break;
        default: break;
        }
    }
    if (end == n)
        return elf_bad(m, err, "the dynamic section has no end marker (DT_NULL)");
    if (d.flags & DF_TEXTREL)
        m->textrel = true;
    /* The dynamic loader reads the partner of each of these without checking it is
     * there. */
    struct {
        bool has;
        const char *name;
        bool partner;
        const char *partner_name;
    } pairs[] = {{d.rela != 0, "DT_RELA", d.relasz && d.relaent, "DT_RELASZ and DT_RELAENT"},
                 {d.rel != 0, "DT_REL", d.relsz && d.relent, "DT_RELSZ and DT_RELENT"},
                 {d.relr != 0, "DT_RELR", d.relrsz && d.relrent, "DT_RELRSZ and DT_RELRENT"},
                 {d.jmprel != 0, "DT_JMPREL", d.pltrelsz && d.pltrel, "DT_PLTRELSZ and DT_PLTREL"},
                 {d.pltrel != 0, "DT_PLTREL", d.jmprel && d.pltrelsz, "DT_JMPREL and DT_PLTRELSZ"},
                 {d.init_array != 0, "DT_INIT_ARRAY", d.init_arraysz != 0, "DT_INIT_ARRAYSZ"},
                 {d.fini_array != 0, "DT_FINI_ARRAY", d.fini_arraysz != 0, "DT_FINI_ARRAYSZ"},
                 {d.verneed || d.verdef, "DT_VERNEED or DT_VERDEF", d.versym != 0, "DT_VERSYM"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (pairs[i].has && !pairs[i].partner)
            return elf_bad(m, err, "the dynamic section has %s without %s", pairs[i].name,
                           pairs[i].partner_name);
#ifdef ELF_RELA_ONLY
    if (d.pltrel && d.pltrel != DT_RELA)
        return elf_bad(m, err, "DT_PLTREL %llu; this machine uses DT_RELA",
                       (unsigned long long)d.pltrel);
#endif
    if (!d.has_strtab || !d.has_strsz || !d.has_symtab)
        return elf_bad(m, err, "the dynamic section lacks %s", !d.has_strtab ? "DT_STRTAB"
                       : !d.has_strsz ? "DT_STRSZ" : "DT_SYMTAB");
    cnas_status st = dyn_table(m, "DT_STRTAB", d.strtab, d.strsz, NULL, err);
    if (st)
        return st;
    /* Strings the loader reads by offset: library names, search paths, filters. */
    for (uint64_t i = 0; i < end; i++) {
        Elf64_Dyn e;
        elf_read(m, dp->p_offset + i * sizeof e, &e, sizeof e);
        bool is_str = e.d_tag == DT_NEEDED || e.d_tag == DT_SONAME || e.d_tag == DT_RPATH ||
                      e.d_tag == DT_RUNPATH || e.d_tag == DT_AUXILIARY || e.d_tag == DT_FILTER ||
                      e.d_tag == DT_AUDIT || e.d_tag == DT_DEPAUDIT;
        if (is_str && !dyn_str(m, &d, e.d_un.d_val))
            return elf_bad(m, err, "dynamic entry %llu (tag 0x%llx): a string at %llu outside the "
                           "string table", (unsigned long long)i, (unsigned long long)e.d_tag,
                           (unsigned long long)e.d_un.d_val);
        if (e.d_tag == DT_NEEDED && d.n_needed < (int)(sizeof d.needed / sizeof d.needed[0]))
            d.needed[d.n_needed++] = e.d_un.d_val;
    }
    if (d.has_init && !code_at(m, d.init))
        return elf_bad(m, err, "DT_INIT at 0x%llx, not the start of a function", (unsigned long long)d.init);
    if (d.has_fini && !code_at(m, d.fini))
        return elf_bad(m, err, "DT_FINI at 0x%llx, not the start of a function", (unsigned long long)d.fini);
    if (d.has_pltgot && !mapped(m, d.pltgot, 24, m->textrel ? 0 : PF_W))
        return elf_bad(m, err, "DT_PLTGOT at 0x%llx, outside the writable segments",
                       (unsigned long long)d.pltgot);
    struct {
        const char *name;
        uint64_t addr, size, *n;
    } arr[2] = {{"DT_INIT_ARRAY", d.init_array, d.init_arraysz, &d.n_init},
                {"DT_FINI_ARRAY", d.fini_array, d.fini_arraysz, &d.n_fini}};
    for (int q = 0; q < 2; q++) {
        if (!arr[q].size)
            continue;
        if (arr[q].size % 8 || arr[q].size / 8 > ELF_MAX_ARRAY_SLOTS ||
            !mapped(m, arr[q].addr, arr[q].size, PF_R))
            return elf_bad(m, err, "%s at 0x%llx (%llu bytes) is not inside a LOAD segment",
                           arr[q].name, (unsigned long long)arr[q].addr,
                           (unsigned long long)arr[q].size);
        *arr[q].n = arr[q].size / 8;
    }
    if ((st = elf_dynamic_vs_sections(m, &d, err)))
        return st;
    if ((st = elf_hash(m, &d, err)) || (st = elf_reloc_tables(m, &d, err)) ||
        (st = elf_symbols(m, &d, err)) ||
        (st = elf_versions(m, &d, err)))
        return st;
    d.covered = calloc((size_t)(d.n_init + d.n_fini + 1), 1);
    d.referenced = calloc((size_t)d.nsyms + 1, 1);
    st = d.covered && d.referenced ? elf_relocs(m, &d, err)
                                   : cnas_error_set(err, CNAS_ERR_NOMEM, "plugin %s: out of memory",
                                                    m->path);
    free(d.covered);
    free(d.referenced);
    free(d.targets);
    return st;
}

/* Read the ELF header first: "not an ELF file", "an executable, not a shared
 * object" and "built for another machine" say more than dlerror() does. Then the
 * layout and the dynamic tables (above). dlopen still has the last word (missing
 * libraries, unresolved symbols). */
static cnas_status check_elf(const char *path, cnas_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size < 0) {
        int e = errno;
        close(fd);
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: cannot read: %s", path, strerror(e));
    }
    elf_img m = {.path = path, .size = (uint64_t)sb.st_size};
    unsigned char *buf = malloc(m.size ? (size_t)m.size : 1);
    if (!buf) {
        close(fd);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "plugin %s: out of memory reading %llu bytes",
                              path, (unsigned long long)m.size);
    }
    uint64_t got = 0;
    while (got < m.size) {
        ssize_t r = read(fd, buf + got, (size_t)(m.size - got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (uint64_t)r;
    }
    close(fd);
    m.size = got; /* what could be read is what dlopen would map */
    m.b = buf;
    cnas_status st = CNAS_OK;
    Elf64_Ehdr h;
    memset(&h, 0, sizeof h);
    memcpy(&h, buf, m.size < sizeof h ? (size_t)m.size : sizeof h);
    if (m.size < SELFMAG && memcmp(buf, ELFMAG, (size_t)m.size) == 0) {
        st = elf_bad(&m, err, "%llu bytes, shorter than an ELF header", (unsigned long long)m.size);
        goto out;
    }
    if (memcmp(h.e_ident, ELFMAG, SELFMAG) != 0) {
        st = cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: not a shared object (no ELF "
                            "header)", path);
        goto out;
    }
    if (m.size <= EI_CLASS || (h.e_ident[EI_CLASS] == ELFCLASS64 && m.size < sizeof h)) {
        st = elf_bad(&m, err, "%llu bytes, shorter than the %zu-byte ELF header",
                     (unsigned long long)m.size, sizeof h);
        goto out;
    }
    if (h.e_ident[EI_CLASS] != ELFCLASS64) {
        st = cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: a %s object; this cnas is 64-bit",
                            path, h.e_ident[EI_CLASS] == ELFCLASS32 ? "32-bit" : "unknown-class");
        goto out;
    }
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const int data = ELFDATA2LSB;
#else
    const int data = ELFDATA2MSB;
#endif
    if (h.e_ident[EI_DATA] != data) {
        st = cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: built for a machine of the other "
                            "byte order", path);
        goto out;
    }
#if defined(__x86_64__)
    const int machine = EM_X86_64;
#elif defined(__aarch64__)
    const int machine = EM_AARCH64;
#elif defined(__powerpc64__)
    const int machine = EM_PPC64;
#elif defined(__riscv)
    const int machine = EM_RISCV;
#elif defined(__s390x__)
    const int machine = EM_S390;
#else
    const int machine = h.e_machine;
#endif
    if (h.e_machine != machine) {
        st = cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: built for another architecture "
                            "(ELF machine %d; this machine is %d)", path, h.e_machine, machine);
        goto out;
    }
    if (h.e_type != ET_DYN) {
        st = cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: an ELF %s, not a shared object",
                            path, h.e_type == ET_EXEC ? "executable"
                                  : h.e_type == ET_REL ? "relocatable object (.o)"
                                                       : "file of another type");
        goto out;
    }
    if ((st = elf_layout(&m, &h, err)))
        goto out;
    /* A position-independent executable is ET_DYN too; unlike a shared object it asks
     * for a program interpreter. */
    for (int i = 0; i < m.phnum; i++)
        if (m.ph[i].p_type == PT_INTERP) {
            st = cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: an executable (it names a "
                                "program interpreter), not a shared object", path);
            goto out;
        }
    st = elf_dynamic(&m, err);
out:
    free(m.funcs);
    free(m.ph);
    free(buf);
    return st;
}

/* ---- the descriptor after dlopen --------------------------------------------------
 *
 * The descriptor and everything it points to are static data of loaded objects (the
 * plugin, or a library it links, such as libcnas's key lists). Before the checks
 * below read a pointer, it must lie in a readable LOAD segment of a loaded object,
 * and a function pointer in an executable one: a plugin whose data or entry code is
 * damaged is rejected rather than followed to a wild address. */
typedef struct mem_query {
    uintptr_t p;
    size_t n;
    uint32_t flags;
    uintptr_t end; /* of the segment holding p */
    bool found;
} mem_query;

static int mem_query_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    mem_query *q = data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || (ph->p_flags & q->flags) != q->flags)
            continue;
        uintptr_t a = (uintptr_t)info->dlpi_addr + ph->p_vaddr, e = a + ph->p_memsz;
        if (q->p >= a && q->p < e && q->n <= e - q->p) {
            q->found = true;
            q->end = e;
            return 1;
        }
    }
    return 0;
}

static bool in_memory(const void *p, size_t n, uint32_t flags, uintptr_t *end)
{
    mem_query q = {(uintptr_t)p, n ? n : 1, flags, 0, false};
    if (p)
        dl_iterate_phdr(mem_query_cb, &q);
    if (end)
        *end = q.end;
    return q.found;
}

static bool readable_str(const char *s)
{
    uintptr_t end;
    return in_memory(s, 1, PF_R, &end) && memchr(s, '\0', end - (uintptr_t)s) != NULL;
}

static cnas_status unreachable(const char *path, const char *what, const void *p, cnas_error *err)
{
    return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: truncated or corrupt ELF file (%s at "
                          "%p is not in the memory of a loaded object)", path, what, p);
}

/* Every pointer check_desc (and later the host) follows. Sizes and counts that
 * check_desc rejects stop this walk; check_desc names them. */
static cnas_status check_reachable(const char *path, const cnas_plugin_desc *d, cnas_error *err)
{
    char what[160];
    if (!in_memory(d, offsetof(cnas_plugin_desc, name), PF_R, NULL))
        return unreachable(path, "the descriptor", d, err);
    if (d->size < offsetof(cnas_plugin_desc, init) + sizeof(d->init) ||
        d->size > sizeof(cnas_plugin_desc))
        return CNAS_OK;
    if (!in_memory(d, d->size, PF_R, NULL))
        return unreachable(path, "the descriptor", d, err);
    const char *strs[] = {d->name, d->version, d->description, d->license};
    static const char *const str_names[] = {"the plugin name", "the version", "the description",
                                            "the license"};
    for (int i = 0; i < 4; i++)
        if (strs[i] && !readable_str(strs[i]))
            return unreachable(path, str_names[i], strs[i], err);
    if (CNAS_VT_HAS(d, init) && !in_memory((const void *)(uintptr_t)d->init, 1, PF_X, NULL))
        return unreachable(path, "the init function", (const void *)(uintptr_t)d->init, err);
    if (!d->components || !d->n_components)
        return CNAS_OK;
    if (d->n_components > 65536 ||
        !in_memory(d->components, d->n_components * sizeof(cnas_component), PF_R, NULL))
        return unreachable(path, "the component list", d->components, err);
    for (uint32_t i = 0; i < d->n_components; i++) {
        const cnas_component *c = &d->components[i];
        if (c->size < sizeof(cnas_component))
            return CNAS_OK;
        snprintf(what, sizeof what, "the name of component %u", i);
        if (c->name && !readable_str(c->name))
            return unreachable(path, what, c->name, err);
        snprintf(what, sizeof what, "the description of component %u", i);
        if (c->description && !readable_str(c->description))
            return unreachable(path, what, c->description, err);
        snprintf(what, sizeof what, "the vtable of component %u", i);
        if (c->vtable) {
            uint32_t size;
            if (!in_memory(c->vtable, sizeof size, PF_R, NULL))
                return unreachable(path, what, c->vtable, err);
            memcpy(&size, c->vtable, sizeof size);
            if (!in_memory(c->vtable, size, PF_R, NULL))
                return unreachable(path, what, c->vtable, err);
            /* Every member after the size is a function pointer. */
            const unsigned char *vt = c->vtable;
            for (size_t off = sizeof(void (*)(void)); off + sizeof(void (*)(void)) <= size;
                 off += sizeof(void (*)(void))) {
                void (*fn)(void);
                memcpy(&fn, vt + off, sizeof fn);
                if (fn && !in_memory((const void *)(uintptr_t)fn, 1, PF_X, NULL)) {
                    snprintf(what, sizeof what, "member %zu of the vtable of component %u",
                             off / sizeof fn, i);
                    return unreachable(path, what, (const void *)(uintptr_t)fn, err);
                }
            }
        }
        if (!c->params || !c->n_params)
            continue;
        snprintf(what, sizeof what, "the keys of component %u", i);
        if (c->n_params > 65536 || !in_memory(c->params, c->n_params * sizeof(cnas_param_spec), PF_R, NULL))
            return unreachable(path, what, c->params, err);
        for (uint32_t k = 0; k < c->n_params; k++) {
            const cnas_param_spec *sp = &c->params[k];
            if (sp->size < sizeof(cnas_param_spec))
                break;
            const char *ks[] = {sp->key, sp->default_value, sp->choices, sp->help};
            for (int j = 0; j < 4; j++)
                if (ks[j] && !readable_str(ks[j])) {
                    snprintf(what, sizeof what, "a string of key %u of component %u", k, i);
                    return unreachable(path, what, ks[j], err);
                }
        }
    }
    return CNAS_OK;
}

static bool valid_name(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

/* The members a component of each kind must set; every other member is optional
 * (callers check it with CNAS_VT_HAS). A minor never adds a required member: a
 * vtable built for 1.0 must stay loadable. */
typedef struct required_member {
    cnas_kind kind;
    const char *name;
    size_t offset;
    size_t end;                 /* offset + size: the smallest vtable size that holds it */
} required_member;

#define REQUIRED(kind, type, member)                                                      \
    {kind, #member, offsetof(type, member), offsetof(type, member) + sizeof(((type *)0)->member)}
static const required_member required_members[] = {
    REQUIRED(CNAS_KIND_OP, cnas_op_vtable, create),
    REQUIRED(CNAS_KIND_OP, cnas_op_vtable, destroy),
    REQUIRED(CNAS_KIND_OP, cnas_op_vtable, forward),
    REQUIRED(CNAS_KIND_OP, cnas_op_vtable, tensors),
    REQUIRED(CNAS_KIND_SPACE, cnas_space_vtable, create),
    REQUIRED(CNAS_KIND_SPACE, cnas_space_vtable, destroy),
    REQUIRED(CNAS_KIND_SPACE, cnas_space_vtable, forward),
    REQUIRED(CNAS_KIND_SPACE, cnas_space_vtable, tensors),
    REQUIRED(CNAS_KIND_STRATEGY, cnas_strategy_vtable, create),
    REQUIRED(CNAS_KIND_STRATEGY, cnas_strategy_vtable, destroy),
    REQUIRED(CNAS_KIND_STRATEGY, cnas_strategy_vtable, run),
    REQUIRED(CNAS_KIND_STRATEGY, cnas_strategy_vtable, save),
    REQUIRED(CNAS_KIND_STRATEGY, cnas_strategy_vtable, load),
    REQUIRED(CNAS_KIND_DATASET, cnas_dataset_vtable, open),
    REQUIRED(CNAS_KIND_DATASET, cnas_dataset_vtable, close),
    REQUIRED(CNAS_KIND_DATASET, cnas_dataset_vtable, info),
    REQUIRED(CNAS_KIND_DATASET, cnas_dataset_vtable, get),
    REQUIRED(CNAS_KIND_GENERATOR, cnas_generator_vtable, create),
    REQUIRED(CNAS_KIND_GENERATOR, cnas_generator_vtable, destroy),
    REQUIRED(CNAS_KIND_GENERATOR, cnas_generator_vtable, sample),
    REQUIRED(CNAS_KIND_GENERATOR, cnas_generator_vtable, fit),
    REQUIRED(CNAS_KIND_GENERATOR, cnas_generator_vtable, save),
    REQUIRED(CNAS_KIND_GENERATOR, cnas_generator_vtable, load),
    REQUIRED(CNAS_KIND_GENERATOR, cnas_generator_vtable, tensors),
};
#undef REQUIRED

/* Every required member is covered by the vtable's size and set. Members are
 * function pointers, read through one pointer type: their layout is the same. */
static cnas_status check_vtable(const char *path, const cnas_component *c, cnas_error *err)
{
    const unsigned char *vt = c->vtable;
    uint32_t size = *(const uint32_t *)c->vtable;
    for (size_t i = 0; i < sizeof required_members / sizeof required_members[0]; i++) {
        const required_member *m = &required_members[i];
        if (m->kind != c->kind)
            continue;
        if (size < m->end)
            return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: %s '%s' has a vtable of %u "
                                  "bytes, too small to hold '%s' (required; it ends at byte %zu)",
                                  path, cnas_kind_str(c->kind), c->name, size, m->name, m->end);
        void (*fn)(void);
        memcpy(&fn, vt + m->offset, sizeof fn);
        if (!fn)
            return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: %s '%s' has no '%s' (required)",
                                  path, cnas_kind_str(c->kind), c->name, m->name);
    }
    return CNAS_OK;
}

/* The descriptor as ABI 1.0 defines it, the smallest any plugin may hand over. */
#define DESC_SIZE_1_0 (offsetof(cnas_plugin_desc, init) + sizeof(((cnas_plugin_desc *)0)->init))

static cnas_status check_desc(const char *path, const cnas_plugin_desc *d, cnas_error *err)
{
    /* size, abi_major and abi_minor lead every version of the descriptor. */
    if (d->size < offsetof(cnas_plugin_desc, name))
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: bad descriptor size %u (smaller "
                              "than any version of the ABI)", path, d->size);
    if (d->abi_major != CNAS_ABI_MAJOR)
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: built for plugin ABI %u.%u; this "
                              "cnas speaks ABI %d.%d (majors must match; rebuild the plugin "
                              "against this cnas)", path, d->abi_major, d->abi_minor,
                              CNAS_ABI_MAJOR, CNAS_ABI_MINOR);
    if (d->abi_minor > CNAS_ABI_MINOR)
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: built for plugin ABI %u.%u, newer "
                              "than this cnas (%d.%d); upgrade cnas", path, d->abi_major,
                              d->abi_minor, CNAS_ABI_MAJOR, CNAS_ABI_MINOR);
    /* Any minor holds at least the 1.0 fields, and none the host does not know (its
     * minor is not newer); a later field is read only when d->size covers it. */
    if (d->size < DESC_SIZE_1_0 || d->size > sizeof(cnas_plugin_desc))
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: bad descriptor size %u (ABI "
                              "%u.%u descriptors have %zu to %zu bytes)", path, d->size,
                              d->abi_major, d->abi_minor, (size_t)DESC_SIZE_1_0,
                              sizeof(cnas_plugin_desc));
    if (!valid_name(d->name))
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: missing mandatory field: %s "
                              "invalid plugin name%s%s%s (expected [a-z0-9_]+)", path,
                              d->name ? "an" : "no name, an", d->name ? " '" : "",
                              d->name ? d->name : "", d->name ? "'" : "");
    if (!d->version || !*d->version)
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: missing mandatory field: plugin "
                              "'%s' has no version", path, d->name);
    if (!d->components || d->n_components == 0)
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: missing mandatory field: plugin "
                              "'%s' declares no components", path, d->name);
    /* ABI 1.0 has a single component layout; a later minor that appends to
     * cnas_component must step through the array by each plugin's c->size. */
    for (uint32_t i = 0; i < d->n_components; i++) {
        const cnas_component *c = &d->components[i];
        if (c->size < sizeof(cnas_component))
            return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: component %u has size %u, "
                                  "expected at least %zu", path, i, c->size, sizeof(cnas_component));
        if (!valid_name(c->name))
            return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: component %u has a missing or "
                                  "invalid name (expected [a-z0-9_]+)", path, i);
        if (c->kind < CNAS_KIND_OP || c->kind > CNAS_KIND_GENERATOR)
            return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: component '%s' has unknown "
                                  "kind %d", path, c->name, (int)c->kind);
        /* Generators came with 1.2: an older plugin cannot mean kind 5. */
        if (c->kind == CNAS_KIND_GENERATOR && d->abi_minor < 2)
            return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: component '%s' is a generator, "
                                  "a kind of ABI 1.2, but the plugin says ABI %u.%u", path,
                                  c->name, d->abi_major, d->abi_minor);
        if (!c->vtable)
            return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: %s '%s' has no vtable", path,
                                  cnas_kind_str(c->kind), c->name);
        cnas_status st = check_vtable(path, c, err);
        if (st)
            return st;
        char where[512];
        snprintf(where, sizeof where, "plugin %s: %s '%s'", path, cnas_kind_str(c->kind), c->name);
        st = cnas__params_check_schema(c->params, (int)c->n_params, where, err);
        if (st)
            return st;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(d->components[j].name, c->name) == 0 && d->components[j].kind == c->kind)
                return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: duplicate component: "
                                      "component name '%s' is used twice (both %s)", path,
                                      c->name, cnas_kind_str(c->kind));
    }
    return CNAS_OK;
}

static cnas_status load_one(cnas_registry *r, const char *path, cnas_error *err)
{
    char *real = realpath(path, NULL);
    if (!real)
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: %s", path, strerror(errno));
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->p[i].path, real) == 0) {
            free(real);
            return CNAS_OK; /* already loaded */
        }
    cnas_status st = check_elf(real, err);
    if (st) {
        free(real);
        return st;
    }
    void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        st = cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: cannot be loaded: %s", real, dlerror());
        free(real);
        return st;
    }
    void *sym = dlsym(h, CNAS_PLUGIN_ENTRY_SYMBOL);
    cnas_plugin_entry_fn entry = NULL;
    memcpy(&entry, &sym, sizeof entry);
    const cnas_plugin_desc *d = NULL;
    if (!entry)
        st = cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: no entry symbol '%s' (is it a cnas "
                            "plugin? declare it with CNAS_PLUGIN)", real, CNAS_PLUGIN_ENTRY_SYMBOL);
    else if (!in_memory(sym, 1, PF_X, NULL))
        st = unreachable(real, "the entry function", sym, err);
    else if (!(d = entry()))
        st = cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: the entry returned no descriptor", real);
    else if (!(st = check_reachable(real, d, err)))
        st = check_desc(real, d, err);
    for (int i = 0; !st && i < r->n; i++) {
        if (strcmp(r->p[i].desc->name, d->name) != 0)
            continue;
        if (r->p[i].level < r->level) {
            cnas_log(3, "plugin %s: '%s' is shadowed by %s, found earlier on the search path", real,
                     d->name, r->p[i].path);
            dlclose(h);
            free(real);
            return CNAS_OK;
        }
        st = cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: duplicate plugin name: '%s' is "
                            "already loaded from %s", real, d->name, r->p[i].path);
    }
    if (!st && CNAS_VT_HAS(d, init)) {
        cnas_error ie = {0};
        if (d->init(&ie) != CNAS_OK)
            st = cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: initialisation failed: %s", real,
                                ie.msg[0] ? ie.msg : "(no message)");
    }
    if (!st && r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 16;
        loaded *p = realloc(r->p, (size_t)cap * sizeof *p);
        if (!p)
            st = cnas_error_set(err, CNAS_ERR_NOMEM, "registry: out of memory");
        else {
            r->p = p;
            r->cap = cap;
        }
    }
    if (st) {
        dlclose(h);
        free(real);
        return st;
    }
    r->p[r->n++] = (loaded){real, h, d, r->level};
    return CNAS_OK;
}

cnas_status cnas_registry_load_file(cnas_registry *r, const char *path, cnas_error *err)
{
    r->level++;
    return load_one(r, path, err);
}

static bool is_so(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".so") == 0;
}

/* A bad plugin does not hide the good ones after it: every file of the directory is
 * tried and every rejection reported, one per line. */
static void load_dir_depth(cnas_registry *r, const char *dir, int depth, cnas__errs *e)
{
    struct dirent **list = NULL;
    int n = scandir(dir, &list, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        const char *name = list[i]->d_name;
        size_t len = strlen(name);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        struct stat sb;
        if (name[0] != '.' && stat(path, &sb) == 0) {
            if (S_ISREG(sb.st_mode) && is_so(name)) {
                cnas_error one;
                if (load_one(r, path, &one))
                    cnas__errs_add_error(e, &one);
            } else if (S_ISDIR(sb.st_mode) && depth > 0 &&
                       /* meson keeps object files in <target>.p/: nothing to load there. */
                       !(len > 2 && strcmp(name + len - 2, ".p") == 0)) {
                load_dir_depth(r, path, depth - 1, e);
            }
        }
        free(list[i]);
    }
    free(list);
}

cnas_status cnas_registry_load_dir(cnas_registry *r, const char *dir, cnas_error *err)
{
    r->level++;
    cnas__errs e = {err, 0, false};
    load_dir_depth(r, dir, 2, &e);
    return e.n ? (err ? err->code : CNAS_ERR_PLUGIN) : CNAS_OK;
}

cnas_status cnas_registry_load_path(cnas_registry *r, const char *path_list, cnas_error *err)
{
    if (!path_list)
        return CNAS_OK;
    char *copy = strdup(path_list);
    if (!copy)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "registry: out of memory");
    cnas__errs e = {err, 0, false};
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        struct stat sb;
        cnas_error one;
        cnas_status st = stat(dir, &sb) == 0 && S_ISREG(sb.st_mode)
                             ? cnas_registry_load_file(r, dir, &one)
                             : cnas_registry_load_dir(r, dir, &one);
        if (st)
            cnas__errs_add_error(&e, &one);
    }
    free(copy);
    return e.n ? (err ? err->code : CNAS_ERR_PLUGIN) : CNAS_OK;
}

int cnas_registry_plugin_count(const cnas_registry *r) { return r->n; }

const cnas_plugin_desc *cnas_registry_plugin(const cnas_registry *r, int i, const char **path)
{
    if (i < 0 || i >= r->n)
        return NULL;
    if (path)
        *path = r->p[i].path;
    return r->p[i].desc;
}

const cnas_component *cnas_registry_find(const cnas_registry *r, cnas_kind kind, const char *name,
                                         const cnas_plugin_desc **plugin, cnas_error *err)
{
    const char *slash = strchr(name, '/');
    size_t plen = slash ? (size_t)(slash - name) : 0;
    const char *shortname = slash ? slash + 1 : name;
    const cnas_component *found = NULL;
    const cnas_plugin_desc *fp = NULL;
    char others[512] = "";
    size_t ol = 0;
    int matches = 0;
    for (int i = 0; i < r->n; i++) {
        const cnas_plugin_desc *d = r->p[i].desc;
        if (slash && (strlen(d->name) != plen || strncmp(d->name, name, plen) != 0))
            continue;
        for (uint32_t k = 0; k < d->n_components; k++) {
            const cnas_component *c = &d->components[k];
            if (c->kind != kind || strcmp(c->name, shortname) != 0)
                continue;
            matches++;
            found = c;
            fp = d;
            ol += (size_t)snprintf(others + ol, ol < sizeof others ? sizeof others - ol : 0,
                                   "%s%s/%s", matches > 1 ? ", " : "", d->name, c->name);
        }
    }
    if (matches == 1) {
        if (plugin)
            *plugin = fp;
        return found;
    }
    if (matches > 1) {
        cnas_error_set(err, CNAS_ERR_CONFIG, "%s '%s' is ambiguous: %s; name it as plugin/%s",
                       cnas_kind_str(kind), name, others, shortname);
        return NULL;
    }
    /* List what is loaded of this kind, so the user sees the choices. */
    ol = 0;
    others[0] = '\0';
    for (int i = 0; i < r->n; i++)
        for (uint32_t k = 0; k < r->p[i].desc->n_components; k++)
            if (r->p[i].desc->components[k].kind == kind)
                ol += (size_t)snprintf(others + ol, ol < sizeof others ? sizeof others - ol : 0,
                                       "%s%s", ol ? ", " : "", r->p[i].desc->components[k].name);
    cnas_error_set(err, CNAS_ERR_CONFIG, "no %s component named '%s' (loaded: %s)",
                   cnas_kind_str(kind), name, ol ? others : "none");
    return NULL;
}

static cnas_status registry_create_op(void *ctx, const char *name, const cnas_op_args *args,
                                      const char *const *keys, const char *const *values, int n_kv,
                                      const cnas_op_vtable **vt, void **self, cnas_error *err)
{
    const cnas_component *c = cnas_registry_find(ctx, CNAS_KIND_OP, name, NULL, err);
    if (!c)
        return err->code;
    return cnas_op_component_create(c, args, keys, values, n_kv, vt, self, err);
}

cnas_op_factory cnas_registry_op_factory(cnas_registry *r)
{
    cnas_op_factory f = {sizeof f, r, registry_create_op};
    return f;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *cnas_registry_fingerprint(const cnas_registry *r)
{
    char **lines = calloc((size_t)(r->n ? r->n : 1), sizeof *lines);
    size_t total = 1;
    for (int i = 0; lines && i < r->n; i++) {
        size_t n = strlen(r->p[i].desc->name) + strlen(r->p[i].desc->version) + 3;
        lines[i] = malloc(n);
        if (!lines[i])
            continue;
        snprintf(lines[i], n, "%s %s\n", r->p[i].desc->name, r->p[i].desc->version);
        total += n;
    }
    char *out = lines ? malloc(total) : NULL;
    if (out) {
        qsort(lines, (size_t)r->n, sizeof *lines, by_name);
        out[0] = '\0';
        for (int i = 0; i < r->n; i++)
            if (lines[i])
                strcat(out, lines[i]);
    }
    for (int i = 0; lines && i < r->n; i++)
        free(lines[i]);
    free(lines);
    return out;
}
