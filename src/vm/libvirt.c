/* libvirt through its C API: connection, capabilities, define/undefine. */
#include "vm/vm.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/cleanup.h"
#include "util/progress.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdio.h>
#include <string.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

static void quiet_errors(void *ud, virErrorPtr e) { (void)ud; (void)e; }

static const char *virt_msg(void)
{
	const char *m = virGetLastErrorMessage();
	return m && *m ? m : "unknown libvirt error";
}

void *dk_virt_open(const char *uri)
{
	virSetErrorFunc(NULL, quiet_errors);
	virConnectPtr c = virConnectOpen(uri);
	if (!c) {
		dk_fail("libvirt %s: %s", uri, virt_msg());
		return NULL;
	}
	return c;
}

void dk_virt_close(void *conn)
{
	if (conn)
		virConnectClose(conn);
}

static bool xpath_has(xmlXPathContextPtr ctx, const char *expr)
{
	xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	bool ok = r && r->nodesetval && r->nodesetval->nodeNr > 0;
	xmlXPathFreeObject(r);
	return ok;
}

static bool domcaps_has(const char *xml, const char *expr)
{
	if (!xml)
		return false;
	xmlDocPtr d = xmlReadMemory(xml, (int)strlen(xml), "domcaps.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!d)
		return false;
	xmlXPathContextPtr ctx = xmlXPathNewContext(d);
	bool r = ctx && xpath_has(ctx, expr);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(d);
	return r;
}

int dk_virt_caps(void *conn, struct dk_virt_caps *c)
{
	unsigned long v = 0;
	if (virConnectGetLibVersion(conn, &v) < 0)
		return dk_fail("libvirt: version: %s", virt_msg());
	dk_virt_caps_for_version(v, c);
	char *kvm = virConnectGetDomainCapabilities(conn, NULL, "x86_64", "q35", "kvm", 0);
	char *any = kvm;
	if (!kvm)
		any = virConnectGetDomainCapabilities(conn, NULL, "x86_64", "q35", "qemu", 0);
	if (!any)
		return dk_fail("libvirt: domain capabilities: %s", virt_msg());
	c->kvm = kvm != NULL;
	c->video_vmvga = domcaps_has(any, "/domainCapabilities/devices/video/enum[@name='modelType']/value[text()='vmvga']");
	c->spice = domcaps_has(any, "/domainCapabilities/devices/graphics/enum[@name='type']/value[text()='spice']");
	/* Newer libvirt lists watchdog models; older ones know itco from 9.1 on. */
	if (domcaps_has(any, "/domainCapabilities/devices/watchdog"))
		c->itco_watchdog = domcaps_has(any, "/domainCapabilities/devices/watchdog/enum[@name='model']/value[text()='itco']");
	free(any);
	virNetworkPtr net = virNetworkLookupByName(conn, "default");
	if (net) {
		c->has_default_network = virNetworkIsActive(net) == 1;
		virNetworkFree(net);
	}
	virResetLastError();
	return 0;
}

int dk_virt_define(void *conn, const char *xml)
{
	virDomainPtr d = virDomainDefineXML(conn, xml);
	if (!d)
		return dk_fail("libvirt: define: %s", virt_msg());
	virDomainFree(d);
	return 0;
}

bool dk_virt_defined(void *conn, const char *name)
{
	virDomainPtr d = virDomainLookupByName(conn, name);
	if (!d) {
		virResetLastError();
		return false;
	}
	virDomainFree(d);
	return true;
}

int dk_virt_undefine(void *conn, const char *name)
{
	virDomainPtr d = virDomainLookupByName(conn, name);
	if (!d) {
		virResetLastError();
		return 0;
	}
	int st = 0;
	if (virDomainGetState(d, &st, NULL, 0) == 0 && st != VIR_DOMAIN_SHUTOFF)
		virDomainDestroy(d);
	/* Keep the per-VM NVRAM: it lives in the bundle and goes with it. */
	int r = virDomainUndefineFlags(d, VIR_DOMAIN_UNDEFINE_KEEP_NVRAM | VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
					      VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA);
	if (r < 0)
		dk_fail("libvirt: undefine %s: %s", name, virt_msg());
	virDomainFree(d);
	return r < 0 ? -1 : 0;
}

int dk_virt_pool_check(void *conn, const char *pool)
{
	virStoragePoolPtr sp = virStoragePoolLookupByName(conn, pool);
	if (!sp)
		return dk_fail("libvirt: storage pool %s: %s", pool, virt_msg());
	int active = virStoragePoolIsActive(sp);
	virStoragePoolFree(sp);
	if (active != 1)
		return dk_fail("libvirt: storage pool %s is not active (virsh pool-start %s)", pool, pool);
	return 0;
}

int dk_virt_vol_create(void *conn, const char *pool, const char *name, uint64_t bytes, const char *format,
		       char **path)
{
	*path = NULL;
	virStoragePoolPtr sp = virStoragePoolLookupByName(conn, pool);
	if (!sp)
		return dk_fail("libvirt: storage pool %s: %s", pool, virt_msg());
	int rc = -1;
	virStorageVolPtr v = virStorageVolLookupByName(sp, name);
	if (v) {
		dk_fail("libvirt: pool %s: a volume %s exists already", pool, name);
		virStorageVolFree(v);
		goto out;
	}
	virResetLastError();
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr vol = xmlNewNode(NULL, BAD_CAST "volume");
	xmlDocSetRootElement(doc, vol);
	xmlNewTextChild(vol, NULL, BAD_CAST "name", BAD_CAST name);
	char cap[32];
	snprintf(cap, sizeof cap, "%llu", (unsigned long long)bytes);
	xmlNodePtr c = xmlNewTextChild(vol, NULL, BAD_CAST "capacity", BAD_CAST cap);
	xmlNewProp(c, BAD_CAST "unit", BAD_CAST "bytes");
	/* sparse: an upload fills it */
	xmlNewProp(xmlNewTextChild(vol, NULL, BAD_CAST "allocation", BAD_CAST "0"), BAD_CAST "unit", BAD_CAST "bytes");
	xmlNodePtr t = xmlNewChild(vol, NULL, BAD_CAST "target", NULL);
	xmlNewProp(xmlNewChild(t, NULL, BAD_CAST "format", NULL), BAD_CAST "type", BAD_CAST format);
	xmlChar *buf = NULL;
	int len = 0;
	xmlDocDumpMemory(doc, &buf, &len);
	xmlFreeDoc(doc);
	v = virStorageVolCreateXML(sp, (const char *)buf, 0);
	xmlFree(buf);
	if (!v) {
		dk_fail("libvirt: pool %s: create volume %s: %s", pool, name, virt_msg());
		goto out;
	}
	char *vp = virStorageVolGetPath(v);
	if (!vp) {
		dk_fail("libvirt: volume %s: no path: %s", name, virt_msg());
		virStorageVolDelete(v, 0);
	} else {
		*path = dk_strdup(vp);
		free(vp);
		rc = 0;
	}
	virStorageVolFree(v);
out:
	virStoragePoolFree(sp);
	return rc;
}

/* Stream fd's first bytes bytes into the volume, in chunks. */
static int upload_stream(virConnectPtr conn, virStorageVolPtr v, int fd, uint64_t bytes, const char *label,
			 const char *src)
{
	virStreamPtr st = virStreamNew(conn, 0);
	if (!st)
		return dk_fail("libvirt: upload %s: %s", label, virt_msg());
	if (virStorageVolUpload(v, st, 0, bytes, 0) < 0) {
		dk_fail("libvirt: upload %s: %s", label, virt_msg());
		virStreamFree(st);
		return -1;
	}
	enum { CHUNK = 1 << 20 };
	char *buf = dk_malloc(CHUNK);
	struct dk_progress prog;
	dk_progress_start(&prog, label, bytes);
	uint64_t done = 0;
	int rc = 0;
	while (rc == 0 && done < bytes) {
		size_t want = bytes - done < CHUNK ? (size_t)(bytes - done) : CHUNK;
		ssize_t n = read(fd, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = dk_fail_errno("%s", src);
			break;
		}
		if (n == 0) {
			rc = dk_fail("%s: shrank while being uploaded", src);
			break;
		}
		for (ssize_t off = 0; off < n;) {
			int k = virStreamSend(st, buf + off, (size_t)(n - off));
			if (k <= 0) {
				rc = dk_fail("libvirt: upload %s: %s", label, virt_msg());
				break;
			}
			off += k;
		}
		if (rc == 0) {
			done += (uint64_t)n;
			dk_progress_add(&prog, (uint64_t)n);
		}
	}
	dk_progress_finish(&prog);
	free(buf);
	if (rc == 0 && virStreamFinish(st) < 0)
		rc = dk_fail("libvirt: upload %s: %s", label, virt_msg());
	if (rc < 0)
		virStreamAbort(st);
	virStreamFree(st);
	virResetLastError();
	return rc;
}

int dk_virt_vol_upload(void *conn, const char *pool, const char *name, const char *src)
{
	_cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return dk_fail_errno("%s", src);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return dk_fail_errno("%s", src);
	if (!S_ISREG(st.st_mode))
		return dk_fail("%s: not a regular file", src);
	virStoragePoolPtr sp = virStoragePoolLookupByName(conn, pool);
	if (!sp)
		return dk_fail("libvirt: storage pool %s: %s", pool, virt_msg());
	virStorageVolPtr v = virStorageVolLookupByName(sp, name);
	virStoragePoolFree(sp);
	if (!v)
		return dk_fail("libvirt: pool %s: volume %s: %s", pool, name, virt_msg());
	int rc = upload_stream(conn, v, fd, (uint64_t)st.st_size, name, src);
	virStorageVolFree(v);
	return rc;
}

int dk_virt_vol_delete(void *conn, const char *pool, const char *name)
{
	virStoragePoolPtr sp = virStoragePoolLookupByName(conn, pool);
	if (!sp) {
		virResetLastError();
		return 0;
	}
	int rc = 0;
	virStorageVolPtr v = virStorageVolLookupByName(sp, name);
	if (v) {
		if (virStorageVolDelete(v, 0) < 0)
			rc = dk_fail("libvirt: pool %s: delete volume %s: %s", pool, name, virt_msg());
		virStorageVolFree(v);
	}
	virResetLastError();
	virStoragePoolFree(sp);
	return rc;
}

int dk_virt_uuid(void *conn, const char *name, char *out, size_t n)
{
	virDomainPtr d = virDomainLookupByName(conn, name);
	if (!d) {
		virResetLastError();
		return -1;
	}
	char buf[VIR_UUID_STRING_BUFLEN];
	int r = virDomainGetUUIDString(d, buf);
	virDomainFree(d);
	if (r < 0)
		return -1;
	snprintf(out, n, "%s", buf);
	return 0;
}
