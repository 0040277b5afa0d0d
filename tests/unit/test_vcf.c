/*
 * test_vcf.c -- VCF parser: records per (variant, sample, ALT allele) with
 * exact codes and values, annotations, reject reasons, hostile input, and
 * (when ../shared/data is present) the htslib, bcftools and vcf-validator
 * test files.
 */
#include "unit_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <unistd.h>

#include <htslib/bgzf.h>
#include <htslib/hts.h>
#include <htslib/vcf.h>
#include <zlib.h>

#include "parser_test.h"
#include "vcf.h"

static hg_batch_t *
s_parse_opts (const char *vcf, size_t len, const hg_vcf_options_t *opts, size_t max_field,
              size_t max_records, int *rc)
{
    hg_batch_t *b = hg_batch_new (0);
    assert_non_null (b);
    hg_parse_limits_t lim = {max_field, max_records};
    *rc = hg_vcf_parse (vcf, len, opts, &lim, b);
    return b;
}

static hg_batch_t *
s_parse (const char *vcf, int *rc)
{
    return s_parse_opts (vcf, strlen (vcf), NULL, 1 << 20, 0, rc);
}

static void
s_code (const Hourglass__Record *r, size_t i, const char *system, const char *code)
{
    assert_true (i < r->n_codes);
    assert_string_equal (r->codes[i]->system, system);
    assert_string_equal (r->codes[i]->code, code);
}

/* The VCF 4.2 specification's example, three samples. */
static const char *s_spec =
    "##fileformat=VCFv4.2\n"
    "##fileDate=20090805\n"
    "##source=myImputationProgramV3.1\n"
    "##contig=<ID=20,length=62435964>\n"
    "##INFO=<ID=DP,Number=1,Type=Integer,Description=\"Total Depth\">\n"
    "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tNA00001\tNA00002\tNA00003\n"
    "20\t14370\trs6054257\tG\tA\t29\tPASS\tNS=3;DP=14;AF=0.5;DB;H2\tGT:GQ:DP:HQ\t"
    "0|0:48:1:51,51\t1|0:48:8:51,51\t1/1:43:5:.,.\n"
    "chr20\t17330\t.\tT\tA\t3\tq10\tNS=3;DP=11;AF=0.017\tGT:GQ:DP:HQ\t0|0:49:3:58,50\t"
    "0|1:3:5:65,3\t0/0:41:3\n"
    "20\t1110696\trs6040355;rs99\tA\tG,T\t67\tPASS\tNS=2;DP=10;AF=0.333,0.667;AA=T;DB\t"
    "GT:GQ:DP:HQ\t1|2:21:6:23,27\t2|1:2:0:18,2\t2/2:35:4\n"
    "20\t1230237\t.\tT\t.\t47\tPASS\tNS=3;DP=13;AA=T\tGT:GQ:DP:HQ\t0|0:54:7:56,60\t"
    "0|0:48:4:51,51\t0/0:61:2\n"
    "20\t1234567\tmicrosat1\tGTC\tG,GTCT\t50\tPASS\tNS=3;DP=9;AA=G\tGT:GQ:DP\t0/1:35:4\t"
    "0/2:17:2\t./.:40:3\n";

static void
test_spec_example (void **state)
{
    hg_vcf_sample_t map[] = {{"NA00002", "patient-22"}, {"NA00009", "unused"}};
    hg_vcf_options_t opts = {map, 2};
    int rc;
    hg_batch_t *b = s_parse_opts (s_spec, strlen (s_spec), &opts, 1 << 20, 0, &rc);
    assert_int_equal (hg_batch_reject_count (b), 0);
    /* line 8: NA00002, NA00003; line 9: NA00002; line 10: 2 + 2 + 1 (2/2);
     * line 12: NA00001 (ALT 1), NA00002 (ALT 2) */
    assert_int_equal (rc, 10);
    /* 0|0 x1 + 0|0,0/0 x2 + reference site x3 + ./. x1 */
    assert_int_equal (hg_batch_ignored (b), 7);
    Hourglass__Record **r = hg_batch_records (b);

    assert_int_equal (r[0]->kind, HOURGLASS__RECORD_KIND__KIND_GENOMIC_VARIANT);
    assert_string_equal (r[0]->patient_ref, "patient-22"); /* mapped */
    assert_int_equal (r[0]->n_codes, 2);
    s_code (r[0], 0, "http://www.ncbi.nlm.nih.gov/projects/SNP", "rs6054257");
    s_code (r[0], 1, "https://hourglass.local/variant", "20-14370-G-A");
    assert_int_equal (r[0]->value_case, HOURGLASS__RECORD__VALUE_STRING_VALUE);
    assert_string_equal (r[0]->string_value, "1|0");
    assert_string_equal (r[0]->effective, "2009-08-05");
    assert_string_equal (r[0]->status, "PASS");
    assert_string_equal (r[0]->provenance->source_format, "vcf");
    assert_string_equal (r[0]->provenance->source_record_id, "line 8/NA00002/1");
    assert_string_equal (r[0]->record_id, "");

    assert_string_equal (r[1]->patient_ref, "NA00003"); /* not mapped */
    assert_string_equal (r[1]->string_value, "1/1");

    /* chr prefix off, no rs id, FILTER kept */
    assert_string_equal (r[2]->patient_ref, "patient-22");
    assert_int_equal (r[2]->n_codes, 1);
    s_code (r[2], 0, "https://hourglass.local/variant", "20-17330-T-A");
    assert_string_equal (r[2]->status, "q10");

    /* multi-allelic: one record per ALT allele carried, two rs ids */
    assert_string_equal (r[3]->patient_ref, "NA00001");
    s_code (r[3], 0, "http://www.ncbi.nlm.nih.gov/projects/SNP", "rs6040355");
    s_code (r[3], 1, "http://www.ncbi.nlm.nih.gov/projects/SNP", "rs99");
    s_code (r[3], 2, "https://hourglass.local/variant", "20-1110696-A-G");
    assert_string_equal (r[3]->string_value, "1|2");
    assert_string_equal (r[3]->provenance->source_record_id, "line 10/NA00001/1");
    s_code (r[4], 2, "https://hourglass.local/variant", "20-1110696-A-T");
    assert_string_equal (r[4]->provenance->source_record_id, "line 10/NA00001/2");
    /* 2|1: allele order as first seen */
    s_code (r[5], 2, "https://hourglass.local/variant", "20-1110696-A-T");
    s_code (r[6], 2, "https://hourglass.local/variant", "20-1110696-A-G");
    /* 2/2: one record */
    assert_string_equal (r[7]->patient_ref, "NA00003");
    s_code (r[7], 2, "https://hourglass.local/variant", "20-1110696-A-T");
    assert_string_equal (r[7]->string_value, "2/2");

    s_code (r[8], 0, "https://hourglass.local/variant", "20-1234567-GTC-G");
    assert_string_equal (r[8]->string_value, "0/1");
    s_code (r[9], 0, "https://hourglass.local/variant", "20-1234567-GTC-GTCT");
    assert_string_equal (r[9]->patient_ref, "patient-22");
    hg_batch_destroy (&b);
}

static void
test_annotations (void **state)
{
    const char *vcf =
        "##fileformat=VCFv4.3\n"
        "##fileDate=2021-06\n"
        "##INFO=<ID=ANN,Number=.,Type=String,Description=\"Functional annotations: 'Allele | "
        "Annotation | Annotation_Impact | Gene_Name | Gene_ID | Feature_Type | Feature_ID | "
        "Transcript_BioType | Rank | HGVS.c | HGVS.p | cDNA.pos / cDNA.length '\">\n"
        "##INFO=<ID=CSQ,Number=.,Type=String,Description=\"Consequence annotations from "
        "Ensembl VEP. Format: Allele|Consequence|IMPACT|SYMBOL|Gene|HGVSc|HGVSp\">\n"
        "##INFO=<ID=GENE,Number=.,Type=String,Description=\"Gene\">\n"
        "##INFO=<ID=GENEINFO,Number=1,Type=String,Description=\"Gene info\">\n"
        "##INFO=<ID=HGVS,Number=.,Type=String,Description=\"HGVS\">\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
        /* ANN: the entry of each ALT allele */
        "chr17\t43045712\trs80357906\tT\tC,G\t.\t.\tANN=G|missense_variant|MODERATE|BRCA1|"
        "ENSG1|transcript|ENST1|protein_coding|10/23|c.5266T>G|p.Ser1756Ala|1,"
        "C|synonymous_variant|LOW|BRCA1|ENSG1|transcript|ENST1|protein_coding|10/23|"
        "c.5266T>C||\tGT\t1/2\n"
        /* CSQ with VEP's trimmed indel allele */
        "7\t117559590\t.\tATCT\tA\t.\t.\tCSQ=-|inframe_deletion|MODERATE|CFTR|ENSG2|"
        "ENST2:c.1521_1523del|ENSP2:p.Phe508del\tGT:DP\t0/1:30\n"
        /* plain INFO GENE= and GENEINFO=, no HGVS: the genotype */
        "1\t100\trs1\tC\tT\t.\t.\tGENE=TP53,XYZ\tGT\t1\n"
        "1\t200\t.\tC\tT\t.\t.\tGENEINFO=KRAS:3845|X:1;HGVS=NC_1:g.200C>T\tGT\t0|1\n";
    int rc;
    hg_batch_t *b = s_parse (vcf, &rc);
    assert_int_equal (hg_batch_reject_count (b), 0);
    assert_int_equal (rc, 5);
    Hourglass__Record **r = hg_batch_records (b);
    assert_string_equal (r[0]->effective, "2021-06");
    s_code (r[0], 1, "https://hourglass.local/variant", "17-43045712-T-C");
    s_code (r[0], 2, "http://www.genenames.org", "BRCA1");
    assert_string_equal (r[0]->string_value, "c.5266T>C");
    s_code (r[1], 1, "https://hourglass.local/variant", "17-43045712-T-G");
    assert_string_equal (r[1]->string_value, "c.5266T>G");

    assert_int_equal (r[2]->n_codes, 2);
    s_code (r[2], 1, "http://www.genenames.org", "CFTR");
    assert_string_equal (r[2]->string_value, "ENST2:c.1521_1523del");

    s_code (r[3], 2, "http://www.genenames.org", "TP53");
    assert_string_equal (r[3]->string_value, "1");
    s_code (r[4], 1, "http://www.genenames.org", "KRAS");
    assert_string_equal (r[4]->string_value, "NC_1:g.200C>T");
    hg_batch_destroy (&b);
}

static const char *s_head = "##fileformat=VCFv4.1\n"
                            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB\n";

static void
test_line_rejects (void **state)
{
    char vcf[2048];
    snprintf (vcf, sizeof (vcf),
              "%s"
              "1\t10\t.\tC\tT\t.\t.\t.\tGT\t0/1\t1/1\n"        /* line 3: 2 records */
              "1\t11\t.\tC\tT\t.\t.\n"                         /* line 4: 7 columns */
              "1\t12\t.\tC\tT\t.\t.\t.\tGT\t0/1\n"             /* line 5: one sample short */
              "1\tx12\t.\tC\tT\t.\t.\t.\tGT\t0/1\t0/1\n"       /* line 6: POS */
              "1\t13\t.\tC-\tT\t.\t.\t.\tGT\t0/1\t0/1\n"       /* line 7: REF */
              "1\t14\t.\tC\tT\t.\t.\t.\tGT\t0/x\t1/1\n"        /* line 8: bad GT for A */
              "1\t15\t.\tC\tT,G\t.\t.\t.\tGT\t0/3\t0/2\n"      /* line 9: ALT 3 for A */
              "1\t16\t.\tC\tT,,G\t.\t.\t.\tGT\t0/1\t0/1\n"     /* line 10: empty ALT */
              "1\t17\t.\tC\tT\t.\t.\t.\tGT\t0/1\t0/1\textra\n" /* line 11: too many */
              "#late\n"                                        /* line 12 */
              "1\t18\t.\tC\tT\t.\t.\t.\n"                      /* line 13: sites only */
              "1\t19\t.\tC\tT\t.\t.\t.\tDP\t5\t6\n"            /* line 14: no GT */
              "\n"
              "1\t20\t.\tC\t*\t.\t.\t.\tGT\t0/1\t0/0\n", /* line 16: "*" */
              s_head);
    int rc;
    hg_batch_t *b = s_parse (vcf, &rc);
    /* line 3: 2, line 8: B, line 9: B */
    assert_int_equal (rc, 4);
    assert_int_equal (hg_batch_reject_count (b), 9);
    assert_non_null (
        hg_test_reject_at (b, "line 4",
                           "line 4: 7 tab-separated columns, expected 11 "
                           "(CHROM POS ID REF ALT QUAL FILTER INFO FORMAT and one per "
                           "sample)"));
    assert_non_null (hg_test_reject_at (b, "line 5",
                                        "line 5: 10 tab-separated columns, expected "
                                        "11"));
    assert_non_null (hg_test_reject_at (b, "line 6", "line 6: POS 'x12' is not a position"));
    assert_non_null (hg_test_reject_at (b, "line 7", "line 7: REF 'C-' is not a base sequence"));
    assert_non_null (
        hg_test_reject_at (b, "line 8", "line 8: sample A: GT '0/x' is not a genotype"));
    assert_non_null (hg_test_reject_at (b, "line 9",
                                        "line 9: sample A: GT '0/3' refers to ALT "
                                        "allele 3 but ALT lists 2"));
    assert_non_null (
        hg_test_reject_at (b, "line 10", "line 10: ALT 'T,,G': allele 2 is not bases"));
    assert_non_null (hg_test_reject_at (b, "line 11",
                                        "line 11: 12 tab-separated columns but the "
                                        "#CHROM header has 11"));
    assert_non_null (
        hg_test_reject_at (b, "line 12", "line 12: a # line after the #CHROM header"));
    Hourglass__Record **r = hg_batch_records (b);
    assert_string_equal (r[2]->patient_ref, "B");
    assert_string_equal (r[2]->string_value, "1/1");
    assert_string_equal (r[3]->string_value, "0/2");
    s_code (r[3], 0, "https://hourglass.local/variant", "1-15-C-G");
    assert_string_equal (r[0]->effective, "");
    /* line 13 (sites only), line 14 x2 (no GT), line 16 x2 ("*" and 0/0) */
    assert_int_equal (hg_batch_ignored (b), 5);
    hg_batch_destroy (&b);
}

static void
test_payload_rejects (void **state)
{
    int rc;
    hg_batch_t *b = s_parse ("1\t10\t.\tC\tT\t.\t.\t.\n", &rc);
    assert_int_equal (rc, 0);
    assert_int_equal (hg_batch_reject_count (b), 1);
    assert_non_null (
        hg_test_reject_at (b, "line 1",
                           "line 1: expected a ## meta line or the #CHROM "
                           "header line before the data; the payload is not parsed"));
    hg_batch_destroy (&b);

    b = s_parse ("##fileformat=VCFv4.2\n##contig=<ID=1>\n", &rc);
    assert_int_equal (rc, 0);
    assert_non_null (hg_test_reject_at (b, "payload",
                                        "no #CHROM header line: the payload is "
                                        "truncated or not VCF"));
    hg_batch_destroy (&b);

    b = s_parse ("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\n1\t2\t.\tA\n", &rc);
    assert_int_equal (rc, 0);
    assert_int_equal (hg_batch_reject_count (b), 1);
    assert_non_null (hg_test_reject_at (b, "line 2",
                                        "line 2: the #CHROM header has 4 tab-separated "
                                        "columns, expected at least 8"));
    hg_batch_destroy (&b);

    /* truncated gzip and BCF: rejected with a reason, never a crash */
    b = s_parse_opts ("\x1f\x8b\x08\x04\0\0", 6, NULL, 0, 0, &rc);
    assert_int_equal (rc, 0);
    assert_int_equal (hg_batch_reject_count (b), 1);
    assert_non_null (hg_test_reject_at (b, "payload", "does not decompress to VCF or BCF"));
    hg_batch_destroy (&b);

    b = s_parse_opts ("BCF\x02\x02", 5, NULL, 0, 0, &rc);
    assert_int_equal (rc, 0);
    assert_int_equal (hg_batch_reject_count (b), 1);
    assert_non_null (hg_test_reject_at (b, "payload", "BCF"));
    hg_batch_destroy (&b);

    b = s_parse_opts (NULL, 0, NULL, 0, 0, &rc);
    assert_int_equal (rc, 0);
    assert_non_null (hg_test_reject_at (b, "payload", "empty payload"));
    hg_batch_destroy (&b);

    /* a bad fileDate is reported; the records go on without a date */
    b = s_parse ("##fileformat=VCFv4.2\n##fileDate=20091399\n"
                 "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS\n"
                 "1\t5\t.\tA\tC\t.\t.\t.\tGT\t1/1\n",
                 &rc);
    assert_int_equal (rc, 1);
    assert_non_null (hg_test_reject_at (b, "line 2", "line 2: ##fileDate"));
    assert_string_equal (hg_batch_records (b)[0]->effective, "");
    hg_batch_destroy (&b);

    /* CRLF line ends and a VCF 4.4 explicit phasing prefix */
    b = s_parse (
        "##fileformat=VCFv4.4\r\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS"
        "\r\n1\t5\t.\tA\tC\t.\t.\t.\tGT\t/0|1\r\n",
        &rc);
    assert_int_equal (rc, 1);
    assert_string_equal (hg_batch_records (b)[0]->string_value, "/0|1");
    assert_string_equal (hg_batch_records (b)[0]->patient_ref, "S");
    hg_batch_destroy (&b);
}

static void
test_limits (void **state)
{
    /* max_records: the line that crosses the limit is dropped whole */
    char vcf[1024];
    snprintf (vcf, sizeof (vcf),
              "%s1\t10\t.\tC\tT\t.\t.\t.\tGT\t0/1\t1/1\n"
              "1\t11\t.\tC\tT\t.\t.\t.\tGT\t0/1\t1/1\n1\t12\t.\tC\tT\t.\t.\t.\tGT\t0/1\t1/1\n",
              s_head);
    int rc;
    hg_batch_t *b = s_parse_opts (vcf, strlen (vcf), NULL, 0, 3, &rc);
    assert_int_equal (rc, 2);
    assert_int_equal (hg_batch_record_count (b), 2);
    assert_non_null (hg_test_reject_at (b, "line 4",
                                        "record limit reached (max_records 3): line 4 "
                                        "and the rest of the payload are not parsed"));
    hg_batch_destroy (&b);

    /* a 2 MB INFO column with max_field_bytes 1 MiB */
    size_t big = 2u << 20;
    char *huge = malloc (big + 512);
    assert_non_null (huge);
    size_t o = (size_t) sprintf (huge, "%s1\t10\t.\tC\tT\t.\t.\tX=", s_head);
    memset (huge + o, 'a', big);
    o += big;
    o += (size_t) sprintf (huge + o, "\tGT\t0/1\t0/1\n1\t11\t.\tC\tT\t.\t.\t.\tGT\t0/1\t0/0\n");
    b = s_parse_opts (huge, o, NULL, 1u << 20, 0, &rc);
    assert_int_equal (rc, 1);
    assert_non_null (hg_test_reject_at (b, "line 3",
                                        "line 3: column 8 is 2097154 bytes, over the "
                                        "limit of 1048576 bytes (max_field_bytes)"));
    hg_batch_destroy (&b);
    free (huge);

    /* a huge ploidy, a huge allele number, NUL bytes */
    static const char hostile[] =
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS\n"
        "1\t5\t.\tA\tC\t.\t.\t.\tGT\t99999999999999999999/1\n"
        "1\t6\t.\tA\tC\t.\t.\t.\tGT\t1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/"
        "1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1/"
        "1/1/1/1/1\n1\t7\t\0\tA\tC\t.\t.\t.\tGT\t1\n";
    b = s_parse_opts (hostile, sizeof (hostile) - 1, NULL, 0, 0, &rc);
    assert_int_equal (rc, 0); /* the NUL makes line 5's ID invalid */
    assert_int_equal (hg_batch_reject_count (b), 3);
    hg_batch_destroy (&b);

    /* a tiny arena: out of memory is reported, never a crash */
    char many[8192];
    o = (size_t) sprintf (many, "%s", s_head);
    for (int i = 0; i < 100; i++) {
        o += (size_t) sprintf (many + o, "1\t%d\trs%d\tC\tT\t.\t.\t.\tGT\t0/1\t1/1\n", i + 1, i);
    }
    b = hg_batch_new (4096);
    rc = hg_vcf_parse (many, o, NULL, NULL, b);
    assert_int_equal (rc, HG_ENOMEM);
    assert_non_null (hg_test_reject_at (b, NULL, "payload exceeds parser memory limit"));
    hg_batch_destroy (&b);
}

/* ------------------------------------------------------------------------
 * Real samples */

/* Parses every *.vcf of a directory; returns records, counts files and
 * files with rejects. */
static size_t
s_parse_dir (const char *dir, size_t *files, size_t *files_rejected)
{
    DIR *d = opendir (dir);
    assert_non_null (d);
    struct dirent *e;
    size_t records = 0;
    while ((e = readdir (d))) {
        size_t nl = strlen (e->d_name);
        if (nl < 5 || strcmp (e->d_name + nl - 4, ".vcf") != 0) {
            continue;
        }
        char path[2048];
        snprintf (path, sizeof (path), "%s/%s", dir, e->d_name);
        size_t len;
        char *buf = hg_test_slurp (path, &len);
        assert_non_null (buf);
        int rc;
        hg_batch_t *b = s_parse_opts (buf, len, NULL, 1 << 20, 100000, &rc);
        assert_true (rc >= 0);
        assert_int_equal ((size_t) rc, hg_batch_record_count (b));
        records += (size_t) rc;
        (*files)++;
        if (hg_batch_reject_count (b)) {
            (*files_rejected)++;
            if (getenv ("HG_TEST_VERBOSE")) {
                print_message ("  %s: [%s] %s\n", e->d_name, hg_batch_rejects (b)[0].location,
                               hg_batch_rejects (b)[0].reason);
            }
        }
        hg_batch_destroy (&b);
        free (buf);
    }
    closedir (d);
    return records;
}

static bool
s_shared (const char *sub, char *dir, size_t size)
{
#ifdef HG_SHARED_DATA
    struct stat st;
    snprintf (dir, size, "%s/%s", HG_SHARED_DATA, sub);
    if (stat (dir, &st) == 0) {
        return true;
    }
    print_message ("skipping: %s not present\n", dir);
#else
    print_message ("skipping: HG_SHARED_DATA not defined\n");
#endif
    return false;
}

static void
test_shared_validator (void **state)
{
    char dir[1024], sub[1200];
    if (!s_shared ("vcf_validator_v41_v42", dir, sizeof (dir))) {
        skip ();
    }
    const char *versions[] = {"v4.1", "v4.2"};
    for (int v = 0; v < 2; v++) {
        size_t files = 0, rejected = 0;
        snprintf (sub, sizeof (sub), "%s/%s/passed", dir, versions[v]);
        size_t records = s_parse_dir (sub, &files, &rejected);
        print_message ("%s passed: %zu files, %zu records, %zu with rejects\n", versions[v],
                       files, records, rejected);
        /* valid files: nothing rejected, the genotypes found */
        assert_int_equal (files, 25);
        if (rejected) {
            setenv ("HG_TEST_VERBOSE", "1", 1);
            s_parse_dir (sub, &files, &rejected);
        }
        assert_int_equal (rejected, 0);
        assert_true (records >= 300);
        files = rejected = 0;
        snprintf (sub, sizeof (sub), "%s/%s/failed", dir, versions[v]);
        records = s_parse_dir (sub, &files, &rejected);
        print_message ("%s failed: %zu files, %zu records, %zu with rejects\n", versions[v],
                       files, records, rejected);
        assert_true (files > 100);
        /* 16 of them were caught before REF/ALT, CHROM, ID, QUAL, FORMAT,
         * the sample columns and the header lines were checked; the rest break rules about data
         * Hourglass does not keep (the types of AC, AF, DB...) */
        assert_true (rejected >= 56);
    }
}

static void
test_shared_htslib_bcftools (void **state)
{
    char dir[1024];
    bool any = false;
    const char *subs[] = {"vcf_htslib_tests", "vcf_bcftools_tests"};
    for (int i = 0; i < 2; i++) {
        if (!s_shared (subs[i], dir, sizeof (dir))) {
            continue;
        }
        any = true;
        size_t files = 0, rejected = 0;
        size_t records = s_parse_dir (dir, &files, &rejected);
        print_message ("%s: %zu files, %zu records, %zu with rejects\n", subs[i], files, records,
                       rejected);
        /* tool test files, some deliberately odd: never a crash, and the
         * large majority parse clean (htslib's noroundtrip.vcf has FORMAT
         * GT:GT, bcftools' convert.*.vcf no ##fileformat line: rejected) */
        assert_true (files > 5);
        assert_true (records > files);
        assert_true (rejected <= (i == 0 ? 1 : files / 10));
    }
    if (!any) {
        skip ();
    }
}

/* Two samples of one name would merge two people: the file is rejected
 * whole, nothing recorded. */
static void
test_duplicate_samples (void **state)
{
    (void) state;
    int rc;
    hg_batch_t *b =
        s_parse ("##fileformat=VCFv4.3\n"
                 "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tNA1\tNA2\tNA1\n"
                 "1\t5\t.\tA\tC\t.\t.\t.\tGT\t1/1\t0/1\t0/0\n",
                 &rc);
    assert_int_equal (rc, 0);
    assert_int_equal (hg_batch_reject_count (b), 1);
    assert_non_null (hg_test_reject_at (b, "line 2",
                                        "sample name 'NA1' appears more than once in the "
                                        "#CHROM header; two people would become one patient"));
    hg_batch_destroy (&b);
}

/* Genes from every VEP CSQ entry of the allele (SYMBOL, else Gene, by the
 * header's Format: list), SnpEff ANN (Gene_Name, else Gene_ID) and the
 * older EFF; keys without their ##INFO line reject the line. */
static void
test_gene_annotations (void **state)
{
    (void) state;
    const char *vcf =
        "##fileformat=VCFv4.2\n"
        "##INFO=<ID=CSQ,Number=.,Type=String,Description=\"Consequence annotations from "
        "Ensembl VEP. Format: Allele|Consequence|Gene|SYMBOL|HGVSc\">\n"
        "##INFO=<ID=EFF,Number=.,Type=String,Description=\"Predicted effects for this "
        "variant.Format: 'Effect ( Effect_Impact | Functional_Class | Codon_Change | "
        "Amino_Acid_Change| Amino_Acid_Length | Gene_Name | Transcript_BioType | Gene_Coding | "
        "Transcript_ID | Exon_Rank  | Genotype_Number [ | ERRORS | WARNINGS ] )' \">\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
        /* CSQ: two genes for T, one (by Gene id only) for G, one for the other allele */
        "1\t100\t.\tA\tT,G\t.\t.\tCSQ=T|x|ENSG01|GENE1|c.1A>T,T|x|ENSG02|GENE2|,"
        "T|y|ENSG01|GENE1|,G|z|ENSG03||\tGT\t1/2\n"
        /* EFF: the genes of allele 1 */
        "1\t200\t.\tC\tT\t.\t.\tEFF=missense(MODERATE|MISSENSE|gCt/gTt|A12V|300|KRAS|"
        "protein_coding|CODING|ENST1|2|1),intron(MODIFIER|||||NRAS|protein_coding|CODING|ENST2||1)"
        "\tGT\t0/1\n"
        /* GENE= without its header line: rejected */
        "1\t300\t.\tC\tT\t.\t.\tGENE=TP53\tGT\t0/1\n";
    int rc;
    hg_batch_t *b = s_parse (vcf, &rc);
    assert_int_equal (rc, 3);
    Hourglass__Record **r = hg_batch_records (b);
    /* codes: the variant, then the genes */
    assert_int_equal (r[0]->n_codes, 3);
    s_code (r[0], 1, "http://www.genenames.org", "GENE1");
    s_code (r[0], 2, "http://www.genenames.org", "GENE2");
    assert_string_equal (r[0]->string_value, "c.1A>T");
    assert_int_equal (r[1]->n_codes, 2);
    s_code (r[1], 1, "http://www.ensembl.org", "ENSG03");
    assert_int_equal (r[2]->n_codes, 3);
    s_code (r[2], 1, "http://www.genenames.org", "KRAS");
    s_code (r[2], 2, "http://www.genenames.org", "NRAS");
    assert_string_equal (r[2]->string_value, "gCt/gTt");
    assert_int_equal (hg_batch_reject_count (b), 1);
    assert_non_null (hg_test_reject_at (b, "line 7", "INFO key GENE has no ##INFO=<ID=GENE"));
    hg_batch_destroy (&b);
}

/* What VCF 4.1-4.4 require of the data kept: each bad line rejected alone
 * with its reason; good ones (breakends, symbolic alleles, NaN QUAL) kept. */
static void
test_spec_rules (void **state)
{
    (void) state;
    const char *vcf =
        "##fileformat=VCFv4.2\n"
        "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
        "##INFO=<ID=DP,Number=N,Type=Integer,Description=\"bad Number\">\n"
        "##ALT=<ID=DEL,Description=\"a \"quoted\" word\">\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS\n"
        "1\t1\t.\tA\tG]2:300]\t.\t.\t.\tGT\t0/1\n"   /* line 6: breakend, kept */
        "1\t2\t.\tA\t<DEL>,.A\tNaN\t.\t.\tGT\t1/2\n" /* line 7: kept twice */
        "1\t3\t.\tA\tR\t.\t.\t.\tGT\t0/1\n"          /* line 8: ALT R */
        "1\t4\t.\tB\tT\t.\t.\t.\tGT\t0/1\n"          /* line 9: REF B */
        "1\t5\t.\tA\t[1:100[\t.\t.\t.\tGT\t0/1\n"    /* line 10: breakend without base */
        "chr 1\t6\t.\tA\tT\t.\t.\t.\tGT\t0/1\n"      /* line 11: CHROM */
        "1\t7\t;rs1\tA\tT\t.\t.\t.\tGT\t0/1\n"       /* line 12: ID */
        "1\t8\t.\tA\tT\t-1\t.\t.\tGT\t0/1\n"         /* line 13: QUAL */
        "1\t9\t.\tA\tT\t.\t.\t.\tDP:GT\t3:0/1\n"     /* line 14: GT not first */
        "1\t10\t.\tA\tT\t.\t.\t.\tGT\t0/1:7\n";      /* line 15: a value too many */
    int rc;
    hg_batch_t *b = s_parse (vcf, &rc);
    assert_int_equal (rc, 3);
    assert_int_equal (hg_batch_reject_count (b), 10);
    assert_non_null (hg_test_reject_at (b, "line 15",
                                        "sample 1 has 2 ':'-separated values but "
                                        "FORMAT has 1 keys"));
    assert_non_null (hg_test_reject_at (b, "line 3", "has a Number that is not an integer"));
    assert_non_null (hg_test_reject_at (b, "line 4", "has a quote inside a quoted value"));
    assert_non_null (hg_test_reject_at (b, "line 8", "ALT 'R': allele 1 is not bases"));
    assert_non_null (hg_test_reject_at (b, "line 9", "REF 'B' is not a base sequence"));
    assert_non_null (hg_test_reject_at (b, "line 10", "is not bases"));
    assert_non_null (hg_test_reject_at (b, "line 11", "CHROM holds a space"));
    assert_non_null (hg_test_reject_at (b, "line 12", "ID is not '.'"));
    assert_non_null (hg_test_reject_at (b, "line 13", "QUAL is not '.'"));
    assert_non_null (hg_test_reject_at (b, "line 14", "FORMAT has GT but not as its first key"));
    hg_batch_destroy (&b);

    /* FORMAT without sample columns */
    b = s_parse ("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\n"
                 "1\t5\t.\tA\tC\t.\t.\t.\tGT\n",
                 &rc);
    assert_int_equal (rc, 0);
    assert_non_null (hg_test_reject_at (b, "line 2", "a FORMAT column but no sample column"));
    hg_batch_destroy (&b);

    /* the first line must be ##fileformat */
    b = s_parse ("##fileDate=20200101\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n", &rc);
    assert_int_equal (rc, 0);
    assert_non_null (hg_test_reject_at (b, "line 1", "not ##fileformat=VCFv4.x"));
    hg_batch_destroy (&b);
}

/* ------------------------------------------------------------------------
 * Compressed and binary input */

static const char s_plain[] =
    "##fileformat=VCFv4.2\n##fileDate=20240115\n##contig=<ID=1,length=1000>\n"
    "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
    "##INFO=<ID=GENE,Number=1,Type=String,Description=\"Gene\">\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n"
    "1\t100\trs1\tA\tG\t50\tPASS\tGENE=BRCA1\tGT\t0/1\t1/1\n"
    "1\t200\t.\tC\tT,CA\t50\tPASS\t.\tGT\t1/2\t0/0\n";

/* Writes s_plain to path as gzip (mode "gz"), BGZF ("bgzf") or BCF ("bcf",
 * written by htslib from the text). */
static void
s_write_encoded (const char *path, const char *mode)
{
    if (strcmp (mode, "gz") == 0) {
        gzFile g = gzopen (path, "wb");
        assert_non_null (g);
        assert_int_equal (gzwrite (g, s_plain, sizeof (s_plain) - 1), (int) sizeof (s_plain) - 1);
        assert_int_equal (gzclose (g), Z_OK);
        return;
    }
    if (strcmp (mode, "bgzf") == 0) {
        BGZF *z = bgzf_open (path, "w");
        assert_non_null (z);
        assert_true (bgzf_write (z, s_plain, sizeof (s_plain) - 1) >= 0);
        assert_int_equal (bgzf_close (z), 0);
        return;
    }
    char txt[] = "/tmp/hg_test_vcf_XXXXXX";
    int fd = mkstemp (txt);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, s_plain, sizeof (s_plain) - 1), (ssize_t) sizeof (s_plain) - 1);
    close (fd);
    htsFile *in = hts_open (txt, "r");
    htsFile *o = hts_open (path, "wb");
    assert_non_null (in);
    assert_non_null (o);
    bcf_hdr_t *h = bcf_hdr_read (in);
    assert_non_null (h);
    assert_int_equal (bcf_hdr_write (o, h), 0);
    bcf1_t *r = bcf_init ();
    while (bcf_read (in, h, r) == 0) {
        assert_int_equal (bcf_write (o, h, r), 0);
    }
    bcf_destroy (r);
    bcf_hdr_destroy (h);
    assert_int_equal (hts_close (in), 0);
    assert_int_equal (hts_close (o), 0);
    unlink (txt);
}

/* A .vcf.gz (plain gzip and BGZF) and a BCF give the records the text
 * gives: same patients, variants, genes, genotypes and date. */
static void
test_compressed_and_bcf (void **state)
{
    (void) state;
    int rc;
    hg_batch_t *want = s_parse (s_plain, &rc);
    assert_int_equal (rc, 4); /* S1: G; S2: G; S1: T and CA */
    const char *modes[] = {"gz", "bgzf", "bcf"};
    for (int m = 0; m < 3; m++) {
        char path[] = "/tmp/hg_test_vcf_XXXXXX";
        int fd = mkstemp (path);
        assert_true (fd >= 0);
        close (fd);
        s_write_encoded (path, modes[m]);
        size_t len;
        char *buf = hg_test_slurp (path, &len);
        unlink (path);
        assert_non_null (buf);
        assert_true ((unsigned char) buf[0] == 0x1F);
        hg_batch_t *b = s_parse_opts (buf, len, NULL, 1 << 20, 0, &rc);
        if (hg_batch_reject_count (b)) {
            fail_msg ("%s: %s", modes[m], hg_batch_rejects (b)[0].reason);
        }
        assert_int_equal (rc, 4);
        for (size_t i = 0; i < 4; i++) {
            Hourglass__Record *x = hg_batch_records (want)[i], *y = hg_batch_records (b)[i];
            assert_string_equal (x->patient_ref, y->patient_ref);
            assert_string_equal (x->effective, y->effective);
            assert_string_equal (x->string_value, y->string_value);
            assert_int_equal (x->n_codes, y->n_codes);
            for (size_t k = 0; k < x->n_codes; k++) {
                assert_string_equal (x->codes[k]->code, y->codes[k]->code);
            }
        }
        /* a cut-off file is rejected with a reason, not half-read silently */
        hg_batch_destroy (&b);
        b = s_parse_opts (buf, len / 2, NULL, 1 << 20, 0, &rc);
        assert_true (hg_batch_reject_count (b) >= 1);
        hg_batch_destroy (&b);
        free (buf);
    }
    hg_batch_destroy (&want);
}

static void
test_shared_compressed (void **state)
{
    char dir[1024];
    if (!s_shared ("vcf_htslib_tests", dir, sizeof (dir))) {
        skip ();
    }
    const char *files[] = {"modhdr.vcf.gz", "tabix/vcf_file.bcf"};
    for (int i = 0; i < 2; i++) {
        char path[1200];
        snprintf (path, sizeof (path), "%s/%s", dir, files[i]);
        size_t len;
        char *buf = hg_test_slurp (path, &len);
        if (!buf) {
            print_message ("skipping %s: not present\n", path);
            continue;
        }
        int rc;
        hg_batch_t *b = s_parse_opts (buf, len, NULL, 1 << 20, 0, &rc);
        print_message ("%s: %d records, %zu ignored, %zu rejects\n", files[i], rc,
                       hg_batch_ignored (b), hg_batch_reject_count (b));
        if (hg_batch_reject_count (b)) {
            print_message ("  %s\n", hg_batch_rejects (b)[0].reason);
        }
        assert_int_equal (hg_batch_reject_count (b), 0);
        assert_true (i == 0 || rc > 0); /* modhdr.vcf.gz: a header only */
        hg_batch_destroy (&b);
        free (buf);
    }
}

HG_TEST_MAIN (cmocka_unit_test (test_duplicate_samples), cmocka_unit_test (test_gene_annotations),
              cmocka_unit_test (test_spec_rules), cmocka_unit_test (test_compressed_and_bcf),
              cmocka_unit_test (test_shared_compressed), cmocka_unit_test (test_spec_example),
              cmocka_unit_test (test_annotations), cmocka_unit_test (test_line_rejects),
              cmocka_unit_test (test_payload_rejects), cmocka_unit_test (test_limits),
              cmocka_unit_test (test_shared_validator),
              cmocka_unit_test (test_shared_htslib_bcftools))
