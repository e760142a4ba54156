; A one-sector boot program for tests/boot/seabios.sh: prints a line through the
; BIOS (int 10h, which SeaBIOS sends to the serial console) and halts.
bits 16
org 0x7c00
        cli
        xor ax, ax
        mov ds, ax
        mov si, msg
.next:  lodsb
        test al, al
        jz .done
        mov ah, 0x0e
        mov bx, 0x0007
        int 0x10
        jmp .next
.done:  cli
        hlt
        jmp .done
msg:    db "bootsector: hello from virtio-blk", 13, 10, 0
times 510 - ($ - $$) db 0
dw 0xaa55
