; A test guest packaged as a Linux bzImage (nasm -f bin): a boot-protocol
; setup header in front of a small protected-mode program, so that a Linux
; loader (grub-bhyve, QEMU's -kernel) takes it for a kernel. The program
; reports on COM1 what the loader handed it, then powers off:
;
;   bzguest: entry 64                  (32: the 32-bit entry; rm: real mode)
;   bzguest: boot_params 0x00008000
;   bzguest: cmdline <the command line>
;   bzguest: initrd 0xADDR size N sum 0xSUM     (or: bzguest: initrd none)
;   bzguest: e820 N
;   bzguest: e820 0xADDR 0xLEN TYPE    (N lines, 64-bit values in hex)
;   bzguest: done
;
; SUM is the 32-bit sum of the initrd's bytes. A check that fails prints
; "bzguest: FAIL ..." instead. The entry points are the boot protocol's:
;  - 64-bit (XLF_KERNEL_64, -DENTRY64): startup_32 + 0x200 in long mode with
;    the first 4 GiB identity-mapped; the program switches to a 32-bit code
;    segment (compatibility mode) and runs the same 32-bit code;
;  - 32-bit: startup_32 at code32_start, flat segments 0x10/0x18, paging off;
;  - real mode (QEMU -kernel): setup segment + 0x20, which enters protected
;    mode itself. ESI holds boot_params' address in the two others.
; The platform: bhyve's PM1a_CNT (0x404, S5 = 0x3400), or QEMU's i440FX with
; PIIX4 PM at 0x600 as SeaBIOS programs it (0x604, 0x2000); see guest.asm.

PM_LOAD         equ 0x100000            ; where the protected-mode part runs
COM1            equ 0x3F8
STACK_SIZE      equ 0x1000

%ifdef ENTRY64
XLF             equ 0x0001              ; XLF_KERNEL_64
VERSION         equ 0x020C
%else
XLF             equ 0
VERSION         equ 0x020A
%endif

        bits    16
        org     0
;---------------------------------------------------------------------------
; The setup part: one sector after the boot sector, as setup_sects says.
        times   0x1F1 - ($ - $$) db 0
        db      1                       ; 0x1F1 setup_sects
        dw      0                       ; 0x1F2 root_flags
        dd      pm_size / 16            ; 0x1F4 syssize
        dw      0                       ; 0x1F8 ram_size
        dw      0xFFFF                  ; 0x1FA vid_mode
        dw      0                       ; 0x1FC root_dev
        dw      0xAA55                  ; 0x1FE boot_flag
        jmp     short rm_start          ; 0x200 jump
        db      "HdrS"                  ; 0x202 header
        dw      VERSION                 ; 0x206 version
        dd      0                       ; 0x208 realmode_swtch
        dw      0                       ; 0x20C start_sys_seg
        dw      0                       ; 0x20E kernel_version
        db      0                       ; 0x210 type_of_loader
        db      0x01                    ; 0x211 loadflags: LOADED_HIGH
        dw      0                       ; 0x212 setup_move_size
        dd      PM_LOAD                 ; 0x214 code32_start
        dd      0                       ; 0x218 ramdisk_image
        dd      0                       ; 0x21C ramdisk_size
        dd      0                       ; 0x220 bootsect_kludge
        dw      0                       ; 0x224 heap_end_ptr
        db      0                       ; 0x226 ext_loader_ver
        db      0                       ; 0x227 ext_loader_type
        dd      0                       ; 0x228 cmd_line_ptr
        dd      0x37FFFFFF              ; 0x22C initrd_addr_max
        dd      0x200000                ; 0x230 kernel_alignment
        db      0                       ; 0x234 relocatable_kernel: no
        db      0                       ; 0x235 min_alignment
        dw      XLF                     ; 0x236 xloadflags
        dd      2047                    ; 0x238 cmdline_size
        dd      0                       ; 0x23C hardware_subarch
        dq      0                       ; 0x240 hardware_subarch_data
        dd      0                       ; 0x248 payload_offset
        dd      0                       ; 0x24C payload_length
        dq      0                       ; 0x250 setup_data
        dq      PM_LOAD                 ; 0x258 pref_address
        dd      init_size               ; 0x260 init_size
        dd      0                       ; 0x264 handover_offset
        dd      0                       ; 0x268 kernel_info_offset

; Real-mode entry: CS = DS + 0x20, DS = the setup segment (boot_params).
rm_start:
        cli
        xor     ebx, ebx
        mov     bx, ds
        shl     ebx, 4                  ; boot_params, linear
        lea     eax, [ebx + rm_gdt]
        mov     [rm_gdtr + 2], eax
        o32 lgdt [rm_gdtr]
        mov     eax, cr0
        or      al, 1
        mov     cr0, eax
        mov     esi, ebx
        mov     edi, 'rm'
        jmp     dword 0x10:entry_rm

        align   8
rm_gdt: dq      0, 0
        dq      0x00CF9A000000FFFF      ; 0x10 code, flat 32-bit
        dq      0x00CF92000000FFFF      ; 0x18 data, flat
rm_gdtr:
        dw      rm_gdtr - rm_gdt - 1
        dd      0

        times   0x400 - ($ - $$) db 0

;---------------------------------------------------------------------------
; The protected-mode part, at PM_LOAD.
        section pm vstart=PM_LOAD align=1
        bits    32
pm_start:
startup_32:                             ; the 32-bit boot protocol entry
        mov     edi, '32'
entry_rm:
        mov     eax, 0x18
        mov     ds, eax
        mov     es, eax
        mov     ss, eax
        mov     esp, stack_top
        jmp     main

        times   0x200 - ($ - $$) db 0
        bits    64
startup_64:                             ; the 64-bit entry: startup_32 + 0x200
        cli
        lgdt    [rel gdt64r]
        mov     esp, stack_top
        push    0x20
        lea     rax, [rel compat]
        push    rax
        retfq                           ; to 32-bit code, still in long mode
        bits    32
compat:
        mov     eax, 0x18
        mov     ds, eax
        mov     es, eax
        mov     ss, eax
        mov     edi, '64'
        jmp     main

        align   8
gdt64:  dq      0, 0
        dq      0x00AF9A000000FFFF      ; 0x10 code, 64-bit
        dq      0x00CF92000000FFFF      ; 0x18 data, flat
        dq      0x00CF9A000000FFFF      ; 0x20 code, 32-bit (compatibility mode)
gdt64r: dw      gdt64r - gdt64 - 1
        dq      gdt64

; Print an inline string; the string follows the call.
%macro PRINT 1+
        call    print_inline
        db      %1, 0
%endmacro
%macro PRINTLN 1+
        call    print_inline
        db      %1, 13, 10, 0
%endmacro

; ESI = boot_params, EDI = the entry ('32', '64' or 'rm').
main:
        mov     [bp_addr], esi
        PRINT   "bzguest: entry "
        mov     eax, edi
        call    putc
        shr     eax, 8
        call    putc
        call    crlf
        PRINT   "bzguest: boot_params 0x"
        mov     eax, esi
        call    puthex8
        call    crlf

        ; The command line, up to cmdline_size bytes.
        PRINT   "bzguest: cmdline "
        mov     ebx, [esi + 0x228]
        test    ebx, ebx
        jz      .nocmd
        mov     ecx, 2048
.cmd:   mov     al, [ebx]
        test    al, al
        jz      .cmdend
        call    putc
        inc     ebx
        dec     ecx
        jnz     .cmd
.cmdend:
        call    crlf
        jmp     .initrd
.nocmd:
        PRINTLN "(none)"

        ; The initrd: where, how big, the sum of its bytes; above the kernel
        ; and below initrd_addr_max.
.initrd:
        mov     esi, [bp_addr]
        mov     ebx, [esi + 0x218]
        mov     ecx, [esi + 0x21C]
        test    ecx, ecx
        jnz     .hasinitrd
        PRINTLN "bzguest: initrd none"
        jmp     .e820
.hasinitrd:
        cmp     ebx, PM_LOAD + init_size
        jb      .badplace
        lea     eax, [ebx + ecx - 1]
        cmp     eax, [esi + 0x22C]
        ja      .badplace
        cmp     eax, ebx
        jb      .badplace
        PRINT   "bzguest: initrd 0x"
        mov     eax, ebx
        call    puthex8
        PRINT   " size "
        mov     eax, ecx
        call    putdec
        xor     edx, edx
.sum:   movzx   eax, byte [ebx]
        add     edx, eax
        inc     ebx
        dec     ecx
        jnz     .sum
        PRINT   " sum 0x"
        mov     eax, edx
        call    puthex8
        call    crlf
        jmp     .e820
.badplace:
        PRINTLN "bzguest: FAIL initrd: not above the kernel and below initrd_addr_max"

        ; The e820 map in boot_params.
.e820:
        mov     esi, [bp_addr]
        movzx   ecx, byte [esi + 0x1E8]
        PRINT   "bzguest: e820 "
        mov     eax, ecx
        call    putdec
        call    crlf
        cmp     ecx, 128
        ja      .bade820
        lea     ebx, [esi + 0x2D0]
.entry: test    ecx, ecx
        jz      .done
        PRINT   "bzguest: e820 0x"
        mov     eax, [ebx + 4]
        call    puthex8
        mov     eax, [ebx]
        call    puthex8
        PRINT   " 0x"
        mov     eax, [ebx + 12]
        call    puthex8
        mov     eax, [ebx + 8]
        call    puthex8
        PRINT   " "
        mov     eax, [ebx + 16]
        call    putdec
        call    crlf
        add     ebx, 20
        dec     ecx
        jmp     .entry
.bade820:
        PRINTLN "bzguest: FAIL e820: more than 128 entries"
.done:
        PRINTLN "bzguest: done"
        call    poweroff
.hang:  hlt
        jmp     .hang

; poweroff: ACPI S5 through PM1a_CNT, bhyve's or QEMU i440FX/PIIX4's (00:00.0).
poweroff:
        mov     dx, 0xCF8
        mov     eax, 0x80000000
        out     dx, eax
        mov     dx, 0xCFC
        in      eax, dx
        cmp     eax, 0x12378086
        je      .qemu
        mov     dx, 0x404
        mov     ax, 0x3400
        out     dx, ax
        ret
.qemu:  mov     dx, 0x604
        mov     ax, 0x2000
        out     dx, ax
        ret

; putc: AL to COM1, once its transmitter holds nothing.
putc:
        push    edx
        push    eax
        mov     dx, COM1 + 5
.wait:  in      al, dx
        test    al, 0x20
        jz      .wait
        pop     eax
        mov     dx, COM1
        out     dx, al
        pop     edx
        ret

crlf:
        push    eax
        mov     al, 13
        call    putc
        mov     al, 10
        call    putc
        pop     eax
        ret

; Prints the string that follows the call and returns past it.
print_inline:
        push    eax
        push    esi
        mov     esi, [esp + 8]
.next:  lodsb
        test    al, al
        jz      .end
        call    putc
        jmp     .next
.end:   mov     [esp + 8], esi
        pop     esi
        pop     eax
        ret

; puthex8: EAX as 8 lowercase hex digits.
puthex8:
        pushad
        mov     edx, eax
        mov     ecx, 8
.digit: rol     edx, 4
        mov     eax, edx
        and     eax, 0xF
        mov     al, [hexdigits + eax]
        call    putc
        dec     ecx
        jnz     .digit
        popad
        ret

; putdec: EAX in decimal.
putdec:
        pushad
        mov     ebx, 10
        xor     ecx, ecx
.div:   xor     edx, edx
        div     ebx
        push    edx
        inc     ecx
        test    eax, eax
        jnz     .div
.out:   pop     eax
        add     al, '0'
        call    putc
        dec     ecx
        jnz     .out
        popad
        ret

hexdigits:
        db      "0123456789abcdef"
        align   4
bp_addr:
        dd      0
        align   16
pm_size equ     $ - pm_start
        ; init_size covers the stack after the image.
stack_base equ  PM_LOAD + pm_size
stack_top equ   stack_base + STACK_SIZE
init_size equ   pm_size + STACK_SIZE
